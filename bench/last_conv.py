"""Does learning below the head help? (host-side, the numpy twins over the demo's BNN and data)

Compares, on the same stream and the same voice-disjoint test split, for 1 and 4 new keywords:

  head-only   the seven on-device rules (mcuforge.learning.rules.Head) on the frozen embedding;
  last-conv   the head (a rule) plus a RAM-budgeted slice of the BNN's int8 last conv trained
              through the pool (mcuforge.learning.last_conv.LastConvLearner), protecting the old
              classes with LwF (frozen-backbone teacher), a replay ring of feature maps, or nothing.

Features are the board's: the folded network in numpy (bit-exact with the board) up to the last
conv's input, computed once per clip. Scores are on the test split, so the best setting of each
family is an optimistic pick (labelled so); the stream protocol is bench.head_ceiling's
(clips per new word, per old class, one pass, seed 0).
With ``--board``, the board's step alone (``bconv2d_int8w_update``, the slice the budget picks) also
runs on netduinoplus2 for a few streamed clips: bit-exact with the twin, its emulated instruction
count (QEMU -icount, not hardware cycles) and the arena of that one-op firmware.
With ``--seeds N``, the same rule with and without the last conv over N stream draws (is a gain noise?).
With ``--board-session``, whole sessions on netduinoplus2 (the learning firmware with the last_conv
extension): head-only and head + last conv, the board's test predictions against the twin's.
Run:  python -m bench.last_conv [--demo-dir build/demo] [--budget-ram 32768] [--seeds 4] [--board] [--board-session]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SCENARIOS = (("1 new", 1), ("4 new", 4))
STREAM = (40, 6)           # clips per new word, clips per old class (bench.head_ceiling's first setting)
HEAD_LRS = (0.002, 0.005, 0.02)
BACKBONE_LRS = (0.02, 0.5)
PROTECT = (("lwf", "lwf", 0), ("replay", "tinyol", 8), ("none", "tinyol", 0))  # (protect, rule, ring)


def features(model: Path, data: Path, progress: bool = True) -> dict:
    """{split: (packed last-conv inputs [N, ...] uint32, labels)}, graph and meta."""
    from mcuforge.data.speech_commands import load_split
    from mcuforge.learning.last_conv import features_graph
    from mcuforge.model.keras_bnn import load_bnn_keras, quantize_inputs
    from mcuforge.reference.executor import run_graph_batch
    from mcuforge.train.bnn import BASE_LABELS, NEW_KEYWORDS

    graph, meta = load_bnn_keras(model)
    cut = features_graph(graph)
    out = {"graph": graph, "meta": meta, "pretrained": len(BASE_LABELS)}
    for split in ("train", "test"):
        X, y, _ = load_split(data, list(BASE_LABELS) + list(NEW_KEYWORDS), split, features=meta["feature_config"])
        q = quantize_inputs(np.asarray(X, np.float32), meta)
        f = [run_graph_batch(cut, [q[i:i + 64]])[0] for i in range(0, len(q), 64)]
        out[split] = (np.concatenate(f).reshape(len(q), -1), np.asarray(y))
        if progress:
            print(f"  {split}: {len(y)} clips to last-conv features", file=sys.stderr, flush=True)
    return out


def stream(ytr, pretrained: int, n_new: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    per_new, per_old = STREAM
    idx = [i for c in range(pretrained + n_new)
           for i in rng.choice(np.flatnonzero(ytr == c), size=min(per_new if c >= pretrained else per_old,
                                                                     int(np.sum(ytr == c))), replace=False)]
    idx = np.array(idx)
    rng.shuffle(idx)
    return idx


def scores(pred, y, pretrained: int) -> dict:
    old, new = y < pretrained, y >= pretrained
    return dict(all=float(np.mean(pred == y)), old=float(np.mean(pred[old] == y[old])),
                new=float(np.mean(pred[new] == y[new])))


def run_learner(F: dict, learner, n_new: int, seed: int = 0) -> dict:
    (Xtr, ytr), (Xte, yte) = F["train"], F["test"]
    p = F["pretrained"]
    learner.add_classes(n_new)
    for i in stream(ytr, p, n_new, seed):
        learner.train(Xtr[i], int(ytr[i]))
    te = np.flatnonzero(yte < p + n_new)
    return scores(np.array([learner.predict(Xte[i]) for i in te]), yte[te], p)


def run(F: dict, budget_ram: int, progress: bool = True) -> list[list]:
    from mcuforge.learning.last_conv import LastConvLearner
    from mcuforge.learning.rules import RULES

    rows = []
    for scenario, n_new in SCENARIOS:
        classes = F["pretrained"] + n_new
        runs = []
        for rule in RULES:
            for lr in HEAD_LRS:
                lc = LastConvLearner(F["graph"], F["meta"], classes, rule, lr, budget_ram=budget_ram,
                                     protect="none", train_backbone=False)
                runs.append(("head-only", f"{rule}, lr {lr}", run_learner(F, lc, n_new)))
        for protect, rule, ring in PROTECT:
            for lr in HEAD_LRS:
                for lr_w in BACKBONE_LRS:
                    lc = LastConvLearner(F["graph"], F["meta"], classes, rule, lr, lr_w=lr_w, lr_b=lr_w,
                                         budget_ram=budget_ram, protect=protect, replay=ring)
                    runs.append((f"last-conv {protect}", f"{rule}, lr {lr}, lr_w {lr_w}, "
                                 f"{len(lc.channels)} ch, {lc.plan.total} B", run_learner(F, lc, n_new)))
            if progress:
                print(f"  {scenario}: last-conv {protect} done", file=sys.stderr, flush=True)
        for family in dict.fromkeys(r[0] for r in runs):
            best = max((r for r in runs if r[0] == family), key=lambda r: r[2]["all"])
            rows.append([scenario, family, *(f"{100 * best[2][m]:.1f}%" for m in ("all", "old", "new")), best[1]])
    return rows


# same rule and learning rate with and without the last conv (weights only: the offsets added nothing)
PAIRS = (("lwf", "lwf"), ("tinyol-batch", "none"))  # (rule, protection when the last conv trains)


def seed_spread(F: dict, budget_ram: int, seeds: int) -> list[list]:
    """Each rule of PAIRS (lr 0.005) alone and with the last conv (lr_w 0.02), over ``seeds``
    stream draws: the mean all/old/new and each draw's overall accuracy."""
    from mcuforge.learning.last_conv import LastConvLearner

    rows = []
    for scenario, n_new in SCENARIOS:
        for rule, protect in PAIRS:
            for backbone in (False, True):
                kw = dict(lr_w=0.02, lr_b=1e-9, protect=protect) if backbone else dict(protect="none",
                                                                                      train_backbone=False)
                runs = [run_learner(F, LastConvLearner(F["graph"], F["meta"], F["pretrained"] + n_new, rule, 0.005,
                                                       budget_ram=budget_ram, **kw), n_new, seed)
                        for seed in range(seeds)]
                a = 100 * np.array([[r[m] for m in ("all", "old", "new")] for r in runs])
                rows.append([scenario, f"{rule}{' + last conv' if backbone else ''}",
                             *(f"{v:.1f}%" for v in a.mean(0)), " ".join(f"{v:.1f}" for v in a[:, 0])])
    return rows


def board_step(F: dict, budget_ram: int, steps: int = 3, workdir: Path | None = None) -> list[list]:
    """The update step on netduinoplus2 for the first ``steps`` training clips (head lwf, lr 0.005,
    lr_w = lr_b = 0.02, four new classes): rows of (step, bit-exact, emulated instructions)."""
    from mcuforge.learning.last_conv import LastConvLearner
    from mcuforge.reference.executor import initial_state, run_graph
    from mcuforge.target import open_target

    lc = LastConvLearner(F["graph"], F["meta"], F["pretrained"] + 4, "lwf", 0.005, lr_w=0.02, lr_b=0.02,
                         budget_ram=budget_ram, protect="lwf")
    lc.add_classes(4)
    g, state = lc.update, initial_state(lc.update)
    (Xtr, ytr), rows = F["train"], []
    with open_target(g, "netduinoplus2", workdir=workdir) as target:
        arena = target.project.budget.arena_bytes
        for i in range(steps):
            inputs = lc.step_inputs(Xtr[i], int(ytr[i]))
            want = run_graph(g, inputs, state)
            got, count = target.run(inputs)
            same = all(np.array_equal(a.reshape(b.shape), b) for a, b in zip(got, want))
            rows.append([i, "yes" if same else "NO", f"{count:,}", f"{len(lc.channels)} ch", f"{arena:,} B"])
    return rows


def board_session(F: dict, budget_ram: int, n_new: int = 4, seed: int = 0, workdir: Path | None = None,
                  progress: bool = True) -> list[list]:
    """Whole sessions on netduinoplus2 with the learning firmware of ``last_conv.board_model`` (lwf,
    lr 0.005; slice lr_w 0.02, weights only): the stream of ``run`` (features replayed with
    SET_FEATURES), then the test split predicted on the board, head-only (LAST_CONV_CONFIG training
    0, same firmware) and head + last conv. Each against its numpy twin: rows of (learner, all, old,
    new, predictions equal to the twin's, mean TRAIN count in the target's cycles_kind, extension RAM)."""
    from mcuforge.learning.client import LastConvClient, LearningClient
    from mcuforge.learning.config import model_head
    from mcuforge.learning.last_conv import LastConvLearner, board_model
    from mcuforge.model.loader import Model
    from mcuforge.target import open_target

    (Xtr, ytr), (Xte, yte) = F["train"], F["test"]
    p, max_classes = F["pretrained"], model_head(F["meta"])[2]
    te, order = np.flatnonzero(yte < p + n_new), stream(ytr, p, n_new, seed)
    rule, lr = "lwf", 0.005
    learners = (("head-only", dict(protect="none", train_backbone=False), False),
                ("head + last conv, lwf", dict(lr_w=0.02, lr_b=1e-9, protect="lwf"), True))
    def twin(kw):
        return LastConvLearner(F["graph"], F["meta"], max_classes, rule, lr, budget_ram=budget_ram, **kw)
    rows = []
    with open_target(board_model(twin(learners[1][1]), Model(F["graph"], F["meta"])), "netduinoplus2",
                     workdir=workdir) as target:
        learn, below = LearningClient(target.link), LastConvClient(target.link)
        for name, kw, backbone in learners:
            lc = twin(kw)
            learn.reset()  # also the slice back to flash
            below.configure(training=backbone, teacher=backbone)
            learn.configure(rule, lr, 1)
            lc.head.configure(rule, lr, 1)
            for _ in range(n_new):
                if learn.add_class() != lc.head.add_class():
                    raise AssertionError("board and twin gave the new class different indices")
            ticks = []
            for i in order:
                below.set_features(Xtr[i])
                ticks.append(target.cycles(learn.train(int(ytr[i])).ticks))
                lc.train(Xtr[i], int(ytr[i]))
            board, want = [], []
            for i in te:
                below.set_features(Xte[i])
                board.append(learn.predict().argmax)
                want.append(lc.predict(Xte[i]))
            board, want = np.array(board), np.array(want)
            sc = scores(board, yte[te], p)
            rows.append([f"{n_new} new", name, *(f"{100 * sc[m]:.1f}%" for m in ("all", "old", "new")),
                         f"{int(np.sum(board == want))}/{len(te)}", f"{int(np.mean(ticks)):,}",
                         f"{below.info().ram_bytes:,} B" if backbone else "-"])
            if progress:
                print(f"  board session {name}: {len(order)} steps, {len(te)} predictions", file=sys.stderr,
                      flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.last_conv", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo-dir", type=Path, default=Path("build/demo"), help="where bnn.keras and data/ are")
    ap.add_argument("--budget-ram", type=int, default=32768, help="bytes for the trained slice (and replay ring)")
    ap.add_argument("--seeds", type=int, default=0, help="also the same rule with and without the last conv over N streams")
    ap.add_argument("--board", action="store_true", help="also run the update step on netduinoplus2 (QEMU)")
    ap.add_argument("--board-session", action="store_true",
                    help="also whole sessions on netduinoplus2 (QEMU), head-only and head + last conv, 4 new words")
    args = ap.parse_args(argv)
    from mcuforge.commands._common import table

    model, data = args.demo_dir / "bnn.keras", args.demo_dir / "data"
    if not model.is_file() or not data.is_dir():
        print(f"needs {model} and {data} (from 'make demo')", file=sys.stderr)
        return 2
    F = features(model, data)
    print(f"\nhead-only vs head + last-conv slice ({args.budget_ram} B budget), numpy twins, voice-disjoint test "
          f"split, {STREAM[0]} clips per new word / {STREAM[1]} per old class, 1 pass; best setting of each "
          "family on the test split (optimistic)")
    table(run(F, args.budget_ram), ["scenario", "family", "all", "old", "new", "best setting"])
    if args.seeds > 0:
        print(f"\nthe same rule (lr 0.005) alone and with the last conv (lr_w 0.02), mean over {args.seeds} stream draws")
        table(seed_spread(F, args.budget_ram, args.seeds), ["scenario", "learner", "all", "old", "new", "all per draw"])
    ok = True
    if args.board_session:
        print("\nwhole sessions on netduinoplus2 (4 new words, lwf lr 0.005, the firmware of last_conv.board_model; "
              "TRAIN in emulated instructions under QEMU -icount, not hardware cycles)")
        rows = board_session(F, args.budget_ram)
        table(rows, ["scenario", "learner", "all", "old", "new", "= twin", "TRAIN instructions", "extension RAM"])
        ok = all(r[5].split("/")[0] == r[5].split("/")[1] for r in rows)
    if args.board:
        print("\nthe step on netduinoplus2 (emulated instructions under QEMU -icount, not hardware cycles; the arena "
              "of the one-op firmware holds the forward output, gradient, packed input and the trained slice)")
        rows = board_step(F, args.budget_ram)
        table(rows, ["clip", "bit-exact", "instructions", "slice", "arena"])
        ok = ok and all(r[1] == "yes" for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
