"""Few-shot adaptation on the board, every method side by side (issue 11 section 3).

A DS-CNN keyword spotter pretrained by mcuforge on the base keywords of `mcuforge data kws`
(silence, unknown, yes .. go: the four number words are in its data only as "unknown"), then
`mcuforge.train.adapt.adapt` on tasks of new words (default zero,one,two,three) with K shots per
word and every method, on netduinoplus2 under QEMU: query accuracy (mean and spread over the
tasks), training memory on the board (arena + stack high-water), MACs and emulated instructions
per training step, TinyTrain's selection pass (measured on the board) and what it chose. Next to
the TinyTrain paper's numbers (Kwon et al., ICML 2024, MCUNet, 9 cross-domain tasks; a different
model, data and scale: a reference point, not a like-for-like comparison).

Every run goes to the results database (kind "adapt"). Emulated instructions are not hardware
cycles. The pretraining (~minutes on 2 cores) and the board runs take a while: run it niced.
``--board host`` runs every pass on the host's numpy twin instead (bit-exact with the board's;
``mcuforge.train.adapt.HOST``): many tasks without QEMU, memory the arena plan's, no counts.

Run:  nice -n 19 python -m bench.adapt [--work DIR] [--board host] [--tasks 3] [--shots 5] [--methods ...]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# TinyTrain (Kwon et al. 2024), Table 1, MCUNet backbone: average top-1 over 9 cross-domain tasks
from mcuforge.commands._common import table
from mcuforge.demo import ADAPT_BUDGET_RAM, ADAPT_PAPER, ADAPT_PAPER_MEMORY  # the one copy of Kwon et al.'s numbers
from mcuforge.train.adapt import HOST
from mcuforge.train.adapt_lr import AUTO, LR_GRID, learning_rate

PAPER = {m: round(100 * a, 1) for m, a in ADAPT_PAPER.items()}  # percent; methods not in the paper: none
PAPER_MEMORY = ADAPT_PAPER_MEMORY
HEADERS = ["method", "lr", "accuracy %", "+-", "train memory B", "trainable B", "MACs/step", "instr/step",
           "selection instr", "chosen", "paper %"]


def mcuforge(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "mcuforge", *args], check=True)


def prepare(work: Path, epochs: int) -> Path:
    """The dataset and the pretrained int8 DS-CNN (made once, kept in ``work``)."""
    data, model = work / "data", work / "kws.tflite"
    if not (data / "testing_list.txt").exists():
        mcuforge("data", "kws", "-o", str(data))
    if not model.exists():
        mcuforge("train", "dscnn-kws", "--data", str(data), "-o", str(model), "--epochs", str(epochs))
    return model


def row(r: dict) -> list:
    chosen = "; ".join(", ".join(f"L{c['layer']} {c['channels']}/{c['of']}" for c in task)
                       for task in r.get("chosen", [])) or "-"
    sel = f"{r['selection_cycles']:,.0f}" if "selection_cycles" in r else "-"
    paper = PAPER.get(r["method"])
    # a row trained on the twin while a board was asked for says so (with --board host every row is)
    host = r.get("trained_on", "board") != "board" and r.get("board") != HOST
    name = r["method"] + (" (host)" if host else "")
    lr = "-" if r.get("learning_rate") is None else f"{r['learning_rate']:g}"
    return [name, lr, f"{100 * r['accuracy']:.1f}", f"{100 * r['accuracy_std']:.1f}", f"{r['train_memory_bytes']:,}",
            f"{r['trainable_bytes']:,}", f"{r['macs_per_step']:,.0f}", "host" if r["cycles_per_step"] is None else f"{r['cycles_per_step']:,.0f}", sel, chosen,
            "-" if paper is None else f"{paper}"]


def selection_table(selections: dict) -> None:
    """Prints the validation accuracy per method and grid rate, the chosen one marked *."""
    grid = sorted({g["learning_rate"] for sel in selections.values() for g in sel["grid"]})
    rows = [[method, *(next((f"{100 * g['accuracy']:.1f}" + ("*" if lr == sel["learning_rate"] else "")
                             for g in sel["grid"] if g["learning_rate"] == lr), "-") for lr in grid)]
            for method, sel in selections.items()]
    table(rows, ["method", *(f"lr {lr:g}" for lr in grid)])


def main(argv=None) -> int:
    from mcuforge.results.store import ResultsStore
    from mcuforge.train.adapt import HOST, METHODS, MethodUnsupported, adapt, kws_tasks
    from mcuforge.train.adapt_lr import adapt_at_chosen_rate, validation_tasks

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="/tmp/mcuforge-bench-adapt", help="dataset, model, firmware and results")
    p.add_argument("--board", default="netduinoplus2",
                   help=f"a board, or {HOST!r}: every pass on the numpy twin (bit-exact with the board), no counts")
    p.add_argument("--classes", default="zero,one,two,three")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--tasks", type=int, default=3)
    p.add_argument("--shots", type=int, default=5)
    p.add_argument("--queries", type=int, default=10)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--augment", type=int, default=0,
                   help="augmented views of each support clip per epoch, besides the clip (train.adapt.AUGMENTATION)")
    p.add_argument("--lr", type=learning_rate, default=None,
                   help="a rate for every method (default: each method's own, train.adapt.DEFAULT_LEARNING_RATES), "
                        "or 'auto': per method the best of --lr-grid on --val-tasks "
                        "validation tasks (queries from the validation split; host twin), then the test tasks")
    p.add_argument("--lr-grid", default=",".join(f"{lr:g}" for lr in LR_GRID))
    p.add_argument("--val-tasks", type=int, default=None, help="validation tasks for --lr auto (default --tasks)")
    p.add_argument("--head", default="prototypes", choices=["prototypes", "pretrained"],
                   help="where the trained methods' new rows start (mcuforge.train.adapt.HEADS)")
    p.add_argument("--budget-ram", type=int, default=ADAPT_BUDGET_RAM,
                   help="tinytrain and sparse-update (default 65536: the last pointwise conv is within reach)")
    p.add_argument("--pretrain-epochs", type=int, default=12)
    p.add_argument("--model", default=None, help="an int8 .tflite with its .features.json (skips pretraining)")
    p.add_argument("--data", default=None, help="the dataset folder of --model (default WORK/data)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    model = Path(args.model) if args.model else prepare(work, args.pretrain_epochs)
    classes = args.classes.split(",")
    data = Path(args.data) if args.data else work / "data"
    tasks = kws_tasks(model, data, classes, args.shots, args.queries, args.tasks,
                      query_split="test" if args.lr == AUTO else None)  # auto: never the validation voices
    val = (validation_tasks(model, data, classes, args.shots, args.queries, args.val_tasks or args.tasks)
           if args.lr == AUTO else None)
    grid = [float(x) for x in args.lr_grid.split(",")]
    results, rows, selections = [], [], {}
    with ResultsStore(work / "adapt.db") as store:
        for method in args.methods.split(","):
            t0 = time.time()
            say = lambda msg, method=method: print(f"  [{method}] {msg}", file=sys.stderr)  # noqa: E731
            settings = dict(board=args.board, method=method, epochs=args.epochs, budget_ram=args.budget_ram,
                            head=args.head, workdir=work / "runs" / method, store=store, progress=say,
                            augment=args.augment)
            try:
                if args.lr == AUTO:
                    r = adapt_at_chosen_rate(model, tasks, val, classes, grid=grid, **settings)
                else:
                    r = adapt(model, tasks, classes, learning_rate=args.lr, **settings)
            except MethodUnsupported as exc:
                print(f"{method}: does not run here: {exc}", file=sys.stderr)
                rows.append([method, "-", "does not fit", *["-"] * (len(HEADERS) - 3)])
                continue
            r["wall_seconds"] = round(time.time() - t0, 1)
            if "learning_rate_selection" in r:
                selections[method] = r["learning_rate_selection"]
            results.append({k: v for k, v in r.items() if k != "per_task"})
            rows.append(row(r))
    where = (f"{HOST}: every pass on the numpy twin of the board's integer graphs (bit-exact with the board), "
             "memory the arena plan's, no counts" if args.board == HOST else
             f"{args.board} (emulated: instructions, not hardware cycles)")
    print(f"{len(classes)} new words ({args.classes}), {args.shots} shots, {args.queries} queries, {args.tasks} tasks, "
          f"{args.epochs} epochs" + (f" x (1 + {args.augment} augmented views)" if args.augment else "")
          + f", lr {lr_text(args.lr)}, head {args.head}, budget {args.budget_ram:,} B; {where}")
    table(rows, HEADERS)
    if selections:
        print(f"\nlearning rate per method: validation accuracy % on {len(val)} validation tasks (queries from the "
              f"validation split, other voices and draws than the test tasks'; host twin), * the chosen rate")
        selection_table(selections)
    print(f"paper: TinyTrain (Kwon et al. 2024) on MCUNet, 9 cross-domain tasks; {PAPER_MEMORY}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


def lr_text(lr) -> str:
    if lr == AUTO:
        return "chosen per method (below)"
    return "each method's default (the table's lr)" if lr is None else f"{lr:g}"


if __name__ == "__main__":
    sys.exit(main())
