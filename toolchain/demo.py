"""Keyword spotting end to end on the (emulated) board: the library behind ``mcuforge demo``.

Part 1 (int8, ``demo``): builds the keyword dataset offline (or uses a Speech Commands layout folder),
trains a DS-CNN in Keras, converts it to int8, generates firmware, flashes it, runs the held-out
(voice-disjoint) test set on the board and compares accuracy with the host's int8 (TFLM) accuracy: they
must be equal.

Part 2 (on-device continual learning, ``demo_learn``): pretrains a binary neural network on the 12 base
classes, flashes it with the audio front end and a trainable head, and teaches the board 1 and then 4 new
keywords with each of the seven learning rules: raw audio streamed over the serial link once (the
board's embeddings), replayed to every rule's session; compares the best rule with the paper's numbers
(Vu et al. 2025, ``paper_comparison``).

The EMI-RNN part is ``rnn.demo``. The TinyTrain part (``demo_adapt``): few-shot tasks of four words that
are not labels of part 1's DS-CNN; every method of ``train.adapt`` adapts that same model on the board,
one library call each, next to the TinyTrain paper's numbers (Kwon et al. 2024, ``adapt_paper_comparison``).
"""
from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .boards import DEFAULT_BOARD
from .data.kws import NUMBER_KEYWORDS
from .learning.rules import RULES
from .train import BNN_EPOCHS, BNN_FLOAT_EPOCHS
from .train.adapt import METHODS as ADAPT_METHODS

@dataclass(frozen=True)
class DemoSize:
    """How much the demo does. ``SIZES["quick"]`` is ``make demo``'s (a cold fresh clone within 20 minutes
    on 2 cores: every part, smaller); ``SIZES["full"]`` the full-size protocol (``mcuforge demo --full``)."""

    clips_per_voice: int  # dataset: takes of each keyword per voice
    epochs: int  # DS-CNN training epochs
    test_samples: int | None  # int8 part: held-out clips on the board (None: the whole test split)
    bnn_epochs: int  # BNN pretraining: binary epochs ...
    bnn_float_epochs: int  # ... after these full-precision ones
    train_new: int  # learn part: training clips per new keyword
    train_old: int  # learn part: clips per old class mixed into the stream
    eval_per_class: int  # learn part: held-out clips per class
    eval_every: int | None  # learn part: evaluate the head every N steps (None: before and after the stream)
    rnn_epochs: int  # EMI-RNN part: epochs per MI-RNN round
    rnn_samples: int  # EMI-RNN part: test clips per board (the Uno: a fifth, at least 2)
    adapt_tasks: int  # adapt part: random few-shot tasks ...
    adapt_shots: int  # ... with this many support clips per new word ...
    adapt_queries: int  # ... and query clips per new word
    adapt_epochs: int  # adapt part: passes over the support set
    workdir: str  # where its data, models and firmware go (each size its own: the dataset differs)


SIZES = {
    "quick": DemoSize(clips_per_voice=1, epochs=8, test_samples=None, bnn_epochs=15, bnn_float_epochs=10,
                      train_new=16, train_old=4, eval_per_class=8, eval_every=None, rnn_epochs=6, rnn_samples=10,
                      adapt_tasks=1, adapt_shots=2, adapt_queries=4, adapt_epochs=1, workdir="build/demo"),
    "full": DemoSize(clips_per_voice=2, epochs=20, test_samples=None, bnn_epochs=BNN_EPOCHS,
                     bnn_float_epochs=BNN_FLOAT_EPOCHS, train_new=40, train_old=6, eval_per_class=25, eval_every=40, rnn_epochs=2,
                     rnn_samples=40, adapt_tasks=3, adapt_shots=5, adapt_queries=10, adapt_epochs=3,  # bench.adapt's
                     workdir="build/demo-full"),
}

FULL = SIZES["full"]  # the library's defaults below are the full-size protocol's
PARALLEL_BOARDS = 2  # emulated boards side by side in the learn part: one per core here

# Vu et al. 2025, best rule, as stated in the paper's abstract.
PAPER = {"1 new": dict(accuracy_new=0.95), "4 new": dict(accuracy_all=0.86, accuracy_old=0.82)}

DSCNN_MODEL = "kws_dscnn.tflite"  # the int8 part's model in WORKDIR; the adapt part adapts it
# The adapt part's new words: spoken in the dataset, not labels of the DS-CNN (in its training only as "unknown")
ADAPT_WORDS = NUMBER_KEYWORDS
ADAPT_BUDGET_RAM = 65536  # tinytrain and sparse-update (bench.adapt's: the last pointwise conv within reach)
# TinyTrain (Kwon et al., ICML 2024), Table 1, MCUNet: mean top-1 over 9 cross-domain few-shot image tasks
ADAPT_PAPER = {"last-layer": 0.546, "sparse-update": 0.643, "tinytrain": 0.693, "full": 0.669}
ADAPT_PAPER_MEMORY = "backward memory ~1,000x below full fine-tuning (857 MB -> 0.78 MB, ProxylessNAS)"


def check_methods(methods) -> list[str]:
    """The adapt methods named, each one of ``train.adapt.METHODS``; refused with the list otherwise."""
    bad = [m for m in methods if m not in ADAPT_METHODS]
    if bad:
        raise ValueError(f"unknown adapt method(s) {bad}; methods: {', '.join(ADAPT_METHODS)}")
    return list(methods)


def check_rules(rules) -> list[str]:
    """The learning rules named, each one of ``RULES``; refused with the list otherwise."""
    bad = [r for r in rules if r not in RULES]
    if bad:
        raise ValueError(f"unknown rule(s) {bad}; rules: {', '.join(RULES)}")
    return list(rules)


def _say(msg: str) -> None:
    """A progress line on stderr (stdout is the result)."""
    print(f"==> {msg}", file=sys.stderr, flush=True)


def demo(board: str = DEFAULT_BOARD, data=None, workdir=FULL.workdir, epochs: int = FULL.epochs,
         clips_per_voice: int = FULL.clips_per_voice, voices: int | None = None, test_samples: int | None = None, seed: int = 0, store=None,
         method=None, port=None, progress: bool = True) -> dict:
    """The int8 part: dataset (built offline unless ``data``), DS-CNN, int8 conversion, firmware, and the
    held-out clips on the board against TFLM. Returns the measurements (also in WORKDIR/demo-int8.json)."""
    from tqdm import tqdm

    from .data.speech_commands import DEFAULT_LABELS
    from .reference.tflm import TflmModel, tflm_arena_bytes
    from .target import open_target
    from .train.convert import evaluate_tflite, quantize_input

    t0 = time.time()
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    labels = list(DEFAULT_LABELS)
    data_dir = ensure_dataset(data, work, clips_per_voice, voices, seed, progress)
    model_path, tfl, (X_te, y_te), float_acc = train_int8_dscnn(data_dir, work, epochs, seed, progress)
    if test_samples:
        X_te, y_te = X_te[:test_samples], y_te[:test_samples]
    X_q = quantize_input(X_te[..., None], tfl)
    host_acc = evaluate_tflite(tfl, X_q, y_te)

    _say(f"generate, build and flash to {board}")
    with open_target(model_path, board, workdir=work / "firmware", name="kws_dscnn", method=method, port=port) as target:
        proj = target.project
        rid = None
        if store is not None:
            rid = store.start_run("demo", model_name=proj.manifest["model_name"], model_hash=proj.model_hash,
                                  board=board, firmware_hash=proj.firmware_hash, cycles_kind=target.cycles_kind,
                                  summary=dict(class_names=labels))
        reference = TflmModel(tfl)
        preds, cycles, mismatches = [], [], 0
        rows = []
        try:
            for i, xi in enumerate(tqdm(X_q, desc="test set on board", unit="clip", disable=not progress,
                                        file=sys.stderr)):
                got, cyc = target.run([xi[None]])
                want = reference.run([xi[None]])[0].reshape(got[0].shape)
                mismatches += int(not np.array_equal(got[0], want))
                preds.append(int(np.argmax(got[0].reshape(-1))))
                cycles.append(int(cyc))
                rows.append(dict(index=i, label=int(y_te[i]), predicted=preds[-1], cycles=int(cyc),
                                 mismatches=int(not np.array_equal(got[0], want))))
                if store is not None and len(rows) % 50 == 0:
                    store.add_samples(rid, rows[-50:])
        except BaseException:
            if store is not None:
                store.add_samples(rid, rows[len(rows) // 50 * 50:])
                store.finish_run(rid, status="failed")
            raise
        if store is not None and len(rows) % 50:
            store.add_samples(rid, rows[len(rows) // 50 * 50:])
        board_acc = float(np.mean(np.array(preds) == y_te))
        med = float(np.median(cycles))
        result = dict(
            board=board, labels=labels, test_samples=int(len(y_te)), accuracy_board=board_acc,
            accuracy_host=float(host_acc), accuracy_float=float_acc, output_mismatches=mismatches,
            cycles_median=med, cycles_kind=target.cycles_kind,
            latency_ms_at_clock=med / target.project.board.clock_hz * 1e3,
            clock_hz=target.project.board.clock_hz, macs=proj.macs,
            flash_bytes=target.build.flash_bytes, ram_bytes=target.build.ram_bytes,
            arena_bytes=proj.plan.arena_bytes, reference_arena_bytes=tflm_arena_bytes(tfl),
            weights_bytes=proj.budget.weights_bytes, model=str(model_path), seconds=round(time.time() - t0, 1),
        )
        (work / "demo-int8.json").write_text(json.dumps(result, indent=1))
        if store is not None:
            store.add_metrics(rid, {k: v for k, v in result.items()
                                    if isinstance(v, (int, float)) and not isinstance(v, bool)})
            store.finish_run(rid, status="ok" if board_acc == host_acc else "failed", summary=result)
            result["run_id"] = rid
    return result


def train_int8_dscnn(data_dir, workdir, epochs: int, seed: int, progress: bool):
    """The int8 part's model: a DS-CNN trained on the 12 base labels (every other word is "unknown"),
    converted to int8 -> WORKDIR/kws_dscnn.tflite (with its .features.json), its bytes, the normalized
    test split (X, y) and the float model's test accuracy."""
    from .data.features import FeatureConfig
    from .data.speech_commands import DEFAULT_LABELS
    from .train.convert import to_int8_tflite
    from .train.train import fit_dscnn, load_normalized

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    labels = list(DEFAULT_LABELS)
    features = FeatureConfig(hop=160)  # 25 ms window, 10 ms hop: 98 frames x 40 mel bands per 1 s clip
    _say(f"features: log-mel {features.win * 1000 // features.sample_rate} ms window, "
         f"{features.hop * 1000 // features.sample_rate} ms hop, {features.n_mels} bands; labels {', '.join(labels)}")
    splits, cfg = load_normalized(data_dir, labels, features)
    X_tr, y_tr, _ = splits["train"]
    X_va, y_va, _ = splits["validation"]
    if splits.get("test") is None:
        raise ValueError(f"{data_dir}: no test split (testing_list.txt): the demo measures on held-out clips")
    X_te, y_te, _ = splits["test"]
    _say(f"train a DS-CNN on {len(X_tr)} clips ({epochs} epochs; validation {len(X_va)}, test {len(X_te)})")
    model, _history = fit_dscnn(X_tr, y_tr, X_va, y_va, len(labels), epochs=epochs,
                                seed=seed, progress=progress)
    float_acc = float(np.mean(np.argmax(model.predict(X_te[..., None], verbose=0), axis=1) == y_te))

    _say("convert to int8 TFLite (full-integer quantization)")
    tfl = to_int8_tflite(model, X_tr[..., None])  # it calibrates on evenly spaced clips of all classes
    model_path = work / DSCNN_MODEL
    model_path.write_bytes(tfl)
    cfg.save(model_path.with_suffix(".features.json"))
    return model_path, tfl, (X_te, y_te), float_acc


def ensure_dataset(data, workdir, clips_per_voice: int, voices, seed: int, progress: bool) -> Path:
    from .data.kws import build_kws_dataset

    if data:
        return Path(data)
    data_dir = Path(workdir) / "data"
    _say(f"keyword dataset (espeak-ng, offline) -> {data_dir}")
    build_kws_dataset(data_dir, clips_per_voice=clips_per_voice, seed=seed, progress=progress, voices=voices)
    return data_dir


def demo_learn(board: str, data_dir, workdir, epochs: int = FULL.bnn_epochs, rules=RULES, seed: int = 0, store=None,
               scenarios=(("1 new", ("zero",)), ("4 new", ("zero", "one", "two", "three"))),
               train_new: int = FULL.train_new, train_old: int = FULL.train_old,
               eval_per_class: int = FULL.eval_per_class, progress: bool = True, bnn=None,
               float_epochs: int = FULL.bnn_float_epochs, use_cache: bool = True,
               parallel_boards: int = PARALLEL_BOARDS, eval_every: int | None = FULL.eval_every) -> dict:
    """Pretrain the BNN (or take ``bnn``, a model from 'mcuforge train bnn-kws'), then every rule x
    scenario on the board. The pretrained BNN comes from the user's cache folder when the same data,
    schedule and training code made one before (``train.bnn_cache``); ``use_cache=False`` trains it
    again in WORKDIR without reading or writing the cache. The clips are streamed through
    ``parallel_boards`` emulated boards in parallel (2: one per core here), and as many rule sessions
    run side by side; each head is evaluated every ``eval_every`` steps (None: before and after the
    stream). Returns {"pretrain": ..., "sessions": [...], "paper": [...]}."""
    check_rules(rules)
    from .train.bnn import BASE_LABELS, read_bnn_metadata, train_and_save_bnn
    from .learning.embed import board_embeddings
    from .learning.keywords import learn, load_learn_data, prepare_firmware

    work = Path(workdir)
    if bnn is not None:
        model_path = Path(bnn)
        meta = read_bnn_metadata(model_path)
        if list(meta["labels"]) != list(BASE_LABELS):
            raise ValueError(f"{model_path} was trained on {meta['labels']}; the demo needs {list(BASE_LABELS)}")
        pre = dict(meta.get("extra", {}))
        _say(f"pretrained BNN {model_path} (not trained again)")
    else:
        def pretrain(path) -> None:
            _say(f"pretrain the BNN on {len(BASE_LABELS)} classes ({float_epochs} full-precision + {epochs} binary "
                 f"epochs): {', '.join(BASE_LABELS)}")
            train_and_save_bnn(data_dir, path, BASE_LABELS, epochs=epochs, seed=seed, progress=progress,
                               float_epochs=float_epochs)

        if use_cache:
            from .train.bnn_cache import cached_bnn, copy_to_workdir

            config = dict(labels=list(BASE_LABELS), epochs=epochs, float_epochs=float_epochs, seed=seed)
            model_path, _hit = cached_bnn(data_dir, config, pretrain, fallback=work / "bnn.keras", say=_say)
            model_path = copy_to_workdir(model_path, work)
        else:
            model_path = work / "bnn.keras"
            pretrain(model_path)
        pre = dict(read_bnn_metadata(model_path).get("extra", {}))
    _say(f"generate and build the learning firmware for {board} (BNN backbone + audio front end + head)")
    project = prepare_firmware(model_path, board, work / "bnn-firmware")
    # One stream for every session: the 4-new scenario's clips; the 1-new scenario keeps its first new
    # keyword. Every clip goes through the board's front end and backbone once, in a pass that reports no
    # counts (no -icount, the clips spread over ``parallel_boards`` emulated boards: learning.embed); every
    # rule session then replays the embeddings the board computed (SET_EMBEDDING) under -icount, so all
    # rules learn from the same board-computed stream and each head is trained and evaluated on the board.
    all_new = max((tuple(n) for _, n in scenarios), key=len)
    full = load_learn_data(data_dir, list(BASE_LABELS), list(all_new), train_new, train_old, eval_per_class, seed)
    n_train = len(full.train_labels)
    _say(f"stream {n_train} training and {len(full.eval_labels)} held-out clips through the board's front end "
         f"and backbone ({parallel_boards} emulated board{'s' if parallel_boards > 1 else ''}, no instruction counts)")
    emb = board_embeddings(model_path, project, np.concatenate([full.train_clips, full.eval_clips]),
                           boards=parallel_boards, progress=progress)

    def session(job) -> dict:
        scenario, new, rule = job
        data = full.first_new(len(new))
        keep_tr = full.train_labels < data.pretrained + len(new)
        keep_te = full.eval_labels < data.pretrained + len(new)
        _say(f"{scenario}: teach the board {', '.join(new)} with {rule} (replaying the board's embeddings)")
        s = learn(model_path, data_dir, board, rule=rule, new=new, seed=seed, store=store, project=project,
                  data=data, progress=progress, eval_every=eval_every or len(data.train_labels),
                  train_embeddings=emb[:n_train][keep_tr], embeddings=emb[n_train:][keep_te])
        return dict(s, scenario=scenario)

    # The sessions are independent (each its own emulated board, its own run): side by side, in order.
    jobs = [(scenario, new, rule) for scenario, new in sorted(scenarios, key=lambda s: -len(s[1])) for rule in rules]
    with ThreadPoolExecutor(max_workers=parallel_boards) as pool:
        sessions = list(pool.map(session, jobs))
    return dict(pretrain=pre, model=str(model_path), board=board, sessions=sessions,
                paper=paper_comparison(sessions), firmware=project.manifest)


def paper_comparison(sessions: list[dict]) -> list[str]:
    """One line per paper target: the best rule on the board for that metric, and met / missed by how much."""
    lines = []
    for scenario, goals in PAPER.items():
        runs = [s for s in sessions if s["scenario"] == scenario]
        for metric, goal in goals.items():
            scored = [s for s in runs if s.get(metric) is not None]
            if not scored:
                continue
            best = max(scored, key=lambda s: s[metric])
            got = best[metric]
            verdict = "met" if got >= goal else f"missed by {100 * (goal - got):.1f} points"
            lines.append(f"{scenario}: best {metric.removeprefix('accuracy_')} {100 * got:.1f}% ({best['rule']}); "
                         f"paper {100 * goal:.0f}%: {verdict}")
    return lines


def demo_adapt(board: str, data_dir, workdir, model=None, methods=ADAPT_METHODS, words=ADAPT_WORDS,
               tasks: int = FULL.adapt_tasks, shots: int = FULL.adapt_shots, queries: int = FULL.adapt_queries,
               epochs: int = FULL.adapt_epochs, budget_ram: int = ADAPT_BUDGET_RAM, seed: int = 0, store=None,
               progress: bool = True, dscnn_epochs: int = FULL.epochs, parallel_boards: int = PARALLEL_BOARDS) -> dict:
    """The adapt part (TinyTrain): few-shot tasks of ``words`` (new to the DS-CNN), every method through
    ``train.adapt.adapt`` on the board, one call each, from the same tasks. ``model``: the int8 part's
    DS-CNN (default WORKDIR/kws_dscnn.tflite; trained there, ``dscnn_epochs``, when missing). A method
    the library refuses on this board (``MethodUnsupported``) is a row with its reason. ``parallel_boards``
    methods run at a time (each on its own emulated boards). Returns
    {"rows": [adapt summaries without per_task, or {"method", "refused"}], "paper": [...], ...}."""
    from .train.adapt import MethodUnsupported, adapt, kws_tasks

    check_methods(methods)
    work = Path(workdir)
    if model is None:
        model = work / DSCNN_MODEL
        if model.is_file():
            _say(f"adapt the int8 part's DS-CNN {model} (not trained again)")
        else:
            model = train_int8_dscnn(data_dir, work, dscnn_epochs, seed, progress)[0]
    words = list(words)
    _say(f"adapt: {tasks} task(s) of {len(words)} new words ({', '.join(words)}), {shots} shots and {queries} "
         f"queries per word, {epochs} epoch(s); methods {', '.join(methods)} on {board}")
    task_list = kws_tasks(model, data_dir, words, shots, queries, tasks, seed=seed)

    def run(method: str) -> dict:
        try:
            r = adapt(model, task_list, words, board=board, method=method, epochs=epochs, budget_ram=budget_ram,
                      workdir=work / "adapt" / method, seed=seed, store=store,
                      progress=(lambda msg: _say(f"[{method}] {msg}")) if progress else None)
        except MethodUnsupported as exc:
            return dict(method=method, refused=str(exc))
        return {k: v for k, v in r.items() if k != "per_task"}

    # The methods are independent (each its own firmware, emulated boards and run): side by side, in order.
    with ThreadPoolExecutor(max_workers=parallel_boards) as pool:
        rows = list(pool.map(run, methods))
    return dict(board=board, model=str(model), classes=words, tasks=tasks, shots=shots, queries=queries,
                epochs=epochs, budget_ram=budget_ram, rows=rows, paper=adapt_paper_comparison(rows))


def adapt_paper_comparison(rows: list[dict]) -> list[str]:
    """TinyTrain's claims next to the board's: its gains over last-layer and full fine-tuning (accuracy
    points) and full's training memory over its own. A different task and backbone: a reference point."""
    ran = {r["method"]: r for r in rows if "refused" not in r}
    lines = []
    tt = ran.get("tinytrain")
    for other in ("last-layer", "sparse-update", "full"):
        if tt is None or other not in ran:
            continue
        got = 100 * (tt["accuracy"] - ran[other]["accuracy"])
        paper = 100 * (ADAPT_PAPER["tinytrain"] - ADAPT_PAPER[other])
        lines.append(f"tinytrain - {other}: {got:+.1f} points on the board; paper {paper:+.1f} points")
    if tt is not None and "full" in ran:
        full = ran["full"]
        where = "" if full.get("trained_on", "board") == "board" else " (full: its arena plan, trained on the host)"
        lines.append(f"full / tinytrain training memory: {full['train_memory_bytes'] / tt['train_memory_bytes']:.1f}x"
                     f"{where}; paper: {ADAPT_PAPER_MEMORY}")
        base = ran.get("none")
        if base is not None and all("arena_bytes" in r for r in (full, tt, base)):
            # The paper's ratio is of backward memory: what training adds to the inference arena (none's).
            extra = [r["arena_bytes"] - base["arena_bytes"] for r in (full, tt)]
            if extra[1] > 0:
                lines.append(f"full / tinytrain arena beyond inference (the backward's share, as the paper counts): "
                             f"{extra[0]:,} / {extra[1]:,} B = {extra[0] / extra[1]:.1f}x")
    return lines
