"""'mcuforge demo': keyword spotting end to end on the (emulated) board.

Part 1 (int8): builds the keyword dataset offline (or uses --data, any Speech Commands layout folder),
trains a DS-CNN in Keras, converts it to int8, generates firmware, flashes it, runs the held-out
(voice-disjoint) test set on the board and compares accuracy with the host's int8 (TFLM) accuracy: they
must be equal.

Part 2 (on-device continual learning): pretrains a binary neural network on the 12 base classes, flashes
it with the audio front end and a trainable head, and teaches the board 1 and then 4 new keywords with
each of the seven learning rules (raw audio streamed over the serial link once, on 2 emulated boards in
parallel; every rule's session replays the board's embeddings); prints the table next to the paper's
numbers (Vu et al. 2025).

Part 3 (EMI-RNN, ``--part rnn``): trains the LSTM baseline and an EMI-FastGRNN on the keyword frames,
runs both on the netduinoplus2 and the Uno (every test clip as the host's twin decides it) and prints
accuracy, counts and ms per prediction (emulated/simulated), savings against the LSTM and bytes next to
the papers' numbers (Dennis et al. 2018, Kusupati et al. 2018).

Part 4 (TinyTrain, ``--part adapt``): the int8 part's DS-CNN meets few-shot tasks of four words that are
not its labels (zero..three; in its training only inside "unknown"): every 'mcuforge adapt' method (none,
last-layer, bias, sparse-update, tinytrain, full) on the same tasks on the board, one call each; prints
accuracy, training memory on the board, emulated instructions per step and what tinytrain chose next to
the TinyTrain paper's numbers (Kwon et al. 2024: another task and backbone, a reference point). A method
the library refuses on the board is shown with its reason.

Sizes: by default every part runs smaller (a smaller dataset, fewer epochs and clips: a cold fresh clone
in under 20 minutes on 2 cores, accuracies below the full protocol's); --full runs the full-size protocol.
"""
from __future__ import annotations

import sys

from ..boards import load_board
from ..demo import (ADAPT_METHODS, ADAPT_PAPER, ADAPT_PAPER_MEMORY, PAPER, PARALLEL_BOARDS, SIZES, DemoSize,
                    check_methods, check_rules, demo, demo_adapt, demo_learn, ensure_dataset)
from ..errors import EXIT_CHECK_FAILED, EXIT_OK
from ..learning.rules import RULES
from ..rnn.demo import BOARDS as RNN_BOARDS, demo_rnn
from . import _common


def _sizes(field: str) -> str:
    """An option's two defaults for its help: 'default Q; --full: F'."""
    quick, full = (getattr(SIZES[k], field) for k in ("quick", "full"))
    return f"default {quick}" + ("" if quick == full else f"; --full: {full}")


def demo_size(args) -> DemoSize:
    """The size the options ask for: QUICK or FULL (--full), each option given overriding it."""
    base = SIZES["full" if args.full else "quick"]
    return DemoSize(**{f: getattr(base, f) if getattr(args, f, None) is None else getattr(args, f)
                       for f in DemoSize.__dataclass_fields__})


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="keyword spotting: data -> DS-CNN -> int8 -> firmware -> board -> accuracy",
                       description=_common.doc(__doc__), formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    _common.add_board(p)
    p.add_argument("--data", default=None, help="dataset folder (Speech Commands layout); built offline if missing")
    p.add_argument("--full", action="store_true",
                   help="the full-size protocol (over an hour on 2 cores, cold); without it every part runs "
                        "smaller, for a cold fresh clone in under 20 minutes. The size options below give both "
                        "defaults ('default QUICK; --full: FULL'); one given overrides either")
    p.add_argument("--workdir", default=None,
                   help=f"where data, model and firmware go ({_sizes('workdir')})")
    p.add_argument("--epochs", type=_common.positive_int, default=None, help=f"DS-CNN training epochs ({_sizes('epochs')})")
    p.add_argument("--clips-per-voice", type=_common.positive_int, default=None,
                   help=f"dataset size knob when building it ({_sizes('clips_per_voice')})")
    p.add_argument("--voices", type=int, default=None, help="dataset: N voices drawn (seeded) from all (default: all)")
    p.add_argument("--test-samples", type=_common.positive_int, default=None,
                   help="int8 part: run only the first N test clips on the board (default: all)")
    p.add_argument("--seed", type=_common.natural_int, default=0)
    p.add_argument("--method", default=None, help="flash method (default: the board's emulator)")
    p.add_argument("--port", default=None, help="serial port of a real board")
    p.add_argument("--part", choices=("int8", "learn", "rnn", "adapt", "all"), default="all",
                   help="int8 = the DS-CNN part, learn = the BNN continual-learning part, rnn = the EMI-RNN part, "
                        "adapt = the TinyTrain part (few-shot adaptation of the int8 part's DS-CNN: its model in "
                        "WORKDIR, trained there first when missing), all = the four (default)")
    p.add_argument("--bnn-epochs", type=_common.positive_int, default=None,
                   help=f"BNN pretraining: binary epochs ({_sizes('bnn_epochs')})")
    p.add_argument("--bnn-float-epochs", type=_common.natural_int, default=None,
                   help=f"BNN pretraining: full-precision epochs first ({_sizes('bnn_float_epochs')})")
    p.add_argument("--bnn", default=None,
                   help="learn part: a BNN from 'mcuforge train bnn-kws' (or an earlier demo) instead of pretraining one")
    p.add_argument("--no-bnn-cache", action="store_true",
                   help="learn part: pretrain the BNN again in WORKDIR instead of taking it from the user's cache folder "
                        "($XDG_CACHE_HOME/mcuforge/bnn, keyed by the dataset, the schedule and the training code)")
    p.add_argument("--parallel-boards", type=_common.positive_int, default=PARALLEL_BOARDS,
                   help="learn part: emulated boards side by side: they stream the clips through the front end and "
                        "backbone (without -icount), then run as many rule sessions at a time; adapt part: methods run "
                        f"at a time (default {PARALLEL_BOARDS})")
    p.add_argument("--rules", default=",".join(RULES), help="learning rules to run (default: all seven)")
    p.add_argument("--train-new", type=_common.positive_int, default=None,
                   help=f"learn part: training clips per new keyword ({_sizes('train_new')})")
    p.add_argument("--train-old", type=_common.positive_int, default=None,
                   help=f"learn part: clips per old class mixed into the stream ({_sizes('train_old')})")
    p.add_argument("--eval-per-class", type=_common.positive_int, default=None,
                   help=f"learn part: held-out clips per class the board is evaluated on ({_sizes('eval_per_class')})")
    p.add_argument("--rnn-epochs", type=_common.positive_int, default=None,
                   help=f"rnn part: epochs per MI-RNN round ({_sizes('rnn_epochs')}: minutes; accuracy needs far more)")
    p.add_argument("--rnn-boards", default=",".join(RNN_BOARDS),
                   help=f"rnn part: boards to run on (default {','.join(RNN_BOARDS)})")
    p.add_argument("--rnn-samples", type=_common.positive_int, default=None,
                   help=f"rnn part: test clips per board (the Uno: a fifth of them, at least 2; {_sizes('rnn_samples')})")
    p.add_argument("--adapt-methods", default=",".join(ADAPT_METHODS),
                   help="adapt part: methods to run (default: all six)")
    for field, what in (("adapt_tasks", "random few-shot tasks"), ("adapt_shots", "support clips per new word"),
                        ("adapt_queries", "query clips per new word"), ("adapt_epochs", "passes over the support set")):
        p.add_argument("--" + field.replace("_", "-"), type=_common.positive_int, default=None,
                       help=f"adapt part: {what} ({_sizes(field)})")
    _common.add_json(p, "the demo's results")
    _common.add_db(p)
    p.set_defaults(func=run)


def print_demo(r: dict, out=None) -> None:
    out = out or sys.stdout  # looked up now: the CLI moves stdout to stderr for --json -
    emulated = r["cycles_kind"] != "hardware"
    unit = "emulated instructions (QEMU -icount; not a hardware timing)" if emulated else "cycles"
    same = "equal" if r["accuracy_board"] == r["accuracy_host"] else "DIFFERENT"
    print(f"\nkeyword spotting on {r['board']} ({len(r['labels'])} classes, {r['test_samples']} held-out clips)")
    print(f"  accuracy   board {100 * r['accuracy_board']:.2f}%   host int8 (TFLM) {100 * r['accuracy_host']:.2f}%   "
          f"[{same}]   float {100 * r['accuracy_float']:.2f}%")
    print(f"  outputs    {r['output_mismatches']} of {r['test_samples']} clips differ from TFLM bit for bit")
    print(f"  latency    {r['cycles_median']:,.0f} {unit} per clip; "
          f"{r['latency_ms_at_clock']:.2f} ms at {r['clock_hz'] / 1e6:g} MHz if one per cycle"
          + (" (emulated estimate)" if emulated else ""))
    print(f"  compute    {r['macs']:,} MACs per clip")
    ratio = r["arena_bytes"] / r["reference_arena_bytes"] if r["reference_arena_bytes"] else float("nan")
    print(f"  memory     flash {r['flash_bytes']:,} B, RAM {r['ram_bytes']:,} B; arena {r['arena_bytes']:,} B vs "
          f"TFLM {r['reference_arena_bytes']:,} B ({ratio:.2f}x)")


def print_learn_table(r: dict, out=None) -> None:
    out = out or sys.stdout  # looked up now: the CLI moves stdout to stderr for --json -
    pre = r["pretrain"]
    if "test_accuracy" in pre:
        print(f"\nBNN backbone pretrained on 12 classes: host test accuracy {100 * pre['test_accuracy']:.1f}%", file=out)
    emulated = any(s["cycles_kind"] != "hardware" for s in r["sessions"])
    unit = "update instr" if emulated else "update cycles"
    print(f"on-device continual learning on {r['board']} (accuracies measured by the board's head on held-out "
          f"voices{'; instructions are emulated (QEMU -icount)' if emulated else ''})", file=out)
    rows = []
    order = {name: i for i, name in enumerate(PAPER)}  # 1 new before 4 new, whatever order they ran in
    for s in sorted(r["sessions"], key=lambda s: order.get(s["scenario"], len(order))):
        def pct(v):
            return "-" if v is None else f"{100 * v:.1f}%"
        rows.append([s["scenario"], s["rule"], pct(s["accuracy_old"]), pct(s["accuracy_new"]), pct(s["accuracy_all"]),
                     round(s["update_cycles"] or 0), s["head_bytes"] or 0])
    for scenario, goals in PAPER.items():
        rows.append([scenario, "paper (best rule)", f">{100 * goals['accuracy_old']:.0f}%" if "accuracy_old" in goals else "",
                     f">{100 * goals['accuracy_new']:.0f}%" if "accuracy_new" in goals else "",
                     f"{100 * goals['accuracy_all']:.0f}%" if "accuracy_all" in goals else "", "", ""])
    _common.table(rows, ["scenario", "rule", "old", "new", "all", unit, "head bytes"], out)
    for line in r["paper"]:
        print(line, file=out)


def print_rnn_table(r: dict, out=None) -> None:
    out = out or sys.stdout  # looked up now: the CLI moves stdout to stderr for --json -
    print(f"\nEMI-RNN on {r['data']} (windows of {r['window']} steps every {r['stride']}; counts per prediction: a "
          "streaming device decides once per window, the LSTM over its whole clip)", file=out)
    rows = []
    for x in r["rows"]:
        if "error" in x:
            rows.append([x["model"], x["board"], f"not run: {x['error'][:80]}", "", "", "", "", "", "", ""])
            continue
        kind = {"emulated-instructions": "emulated instr", "simulated-cycles": "simulated cycles"}.get(x["cycles_kind"],
                                                                                                    x["cycles_kind"])
        same = "=" if x["ok"] else f"!= host {100 * x['accuracy_host']:.1f}%"
        ms = "-" if x["ms_per_prediction"] is None else f"{x['ms_per_prediction']:.2f} ({kind.split()[0]})"
        save = "-" if x["savings_per_prediction"] is None else f"{x['savings_per_prediction']:.2f}x"
        rows.append([x["model"], x["board"], f"{100 * x['accuracy_board']:.1f}% ({x['samples']}, {same} host)",
                     f"{x['counts_per_prediction']:,.0f} {kind}", ms, save,
                     f"{x['mean_steps']:.1f} of {x['full_steps']:.0f}", x["flash_bytes"], x["ram_bytes"],
                     x["weights_bytes"]])
    _common.table(rows, ["model", "board", "accuracy board (bags, = host)", "counts/prediction",
                         "ms/prediction at clock", "savings vs LSTM", "steps/bag (early exit)", "flash B", "RAM B",
                         "weights B"], out)
    for line in r["paper"]:
        print(line, file=out)


def print_adapt_table(r: dict, out=None) -> None:
    out = out or sys.stdout  # looked up now: the CLI moves stdout to stderr for --json -
    print(f"\nTinyTrain: few-shot adaptation of the int8 DS-CNN on {r['board']}: {r['tasks']} task(s) of "
          f"{len(r['classes'])} new words ({', '.join(r['classes'])}; never labels of the DS-CNN, in its training only "
          f"as 'unknown'), {r['shots']} shots, {r['queries']} queries per word, {r['epochs']} epoch(s); every method "
          "trained and evaluated on the board (but where it says host)", file=out)
    rows = []
    for x in r["rows"]:
        paper = ADAPT_PAPER.get(x["method"])
        paper = "-" if paper is None else f"{100 * paper:.1f}%"
        if "refused" in x:
            rows.append([x["method"], "refused by the library (below)", "", "", "", paper])
            continue
        kind = x["cycles_kind"]
        step = "-" if x["cycles_per_step"] is None else f"{x['cycles_per_step']:,.0f} {kind}"
        on_host = x.get("trained_on", "board") != "board"
        memory = f"{x['train_memory_bytes']:,}" + (" (host: planned)" if on_host else "")
        chosen = "; ".join(", ".join(f"L{c['layer']} {c['kind']} {c['channels']}/{c['of']}" for c in task)
                           for task in x.get("chosen", [])) if x["method"] == "tinytrain" else ""
        if "selection_host_agrees" in x:  # the board's choice against the host's from the board's sums
            chosen += " (host agrees)" if x["selection_host_agrees"] else " (host DIFFERS)"
        rows.append([x["method"] + (" (host twin)" if on_host else ""),
                     f"{100 * x['accuracy']:.1f}% +- {100 * x['accuracy_std']:.1f}", memory, step, chosen, paper])
    _common.table(rows, ["method", "accuracy", "train memory B", "per step (emulated: QEMU -icount)",
                         "tinytrain chose", "paper (MCUNet, 9 image tasks)"], out)
    for x in r["rows"]:
        if "refused" in x:
            print(f"{x['method']}: {x['refused']}", file=out)
    for line in r["paper"]:
        print(line, file=out)
    print(f"paper: TinyTrain (Kwon et al. 2024), MCUNet, mean over 9 cross-domain few-shot image tasks; "
          f"{ADAPT_PAPER_MEMORY}: a different task and backbone, a reference point, not like for like", file=out)


def run(args) -> int:
    _common.check_target(args)
    rules = check_rules([x.strip() for x in args.rules.split(",") if x.strip()])  # before hours of work
    methods = check_methods([x.strip() for x in args.adapt_methods.split(",") if x.strip()])
    rnn_boards = [load_board(b.strip()).name for b in args.rnn_boards.split(",") if b.strip()]
    size = demo_size(args)
    store = _common.open_store(args)
    ok = True
    name = "full" if args.full else "quick"
    result: dict = dict(size=name, settings=size.__dict__)
    print(f"mcuforge demo, {name} size" + ("" if args.full else " (every part smaller than the full-size protocol, "
                                                                 "'mcuforge demo --full')") + f": {size}")
    data_dir = ensure_dataset(args.data, size.workdir, size.clips_per_voice, args.voices, args.seed,
                              _common.progress())
    if args.part in ("all", "int8"):
        r = demo(args.board, data=data_dir, workdir=size.workdir, epochs=size.epochs,
                 clips_per_voice=size.clips_per_voice, voices=args.voices, test_samples=size.test_samples,
                 seed=args.seed, store=store, method=args.method, port=args.port, progress=_common.progress())
        print_demo(r)
        result.update(r)
        ok = r["accuracy_board"] == r["accuracy_host"] and r["output_mismatches"] == 0
    if args.part in ("all", "learn"):
        lr = demo_learn(args.board, data_dir, size.workdir, epochs=size.bnn_epochs, rules=rules, seed=args.seed,
                        store=store, train_new=size.train_new, train_old=size.train_old,
                        eval_per_class=size.eval_per_class, bnn=args.bnn,
                        float_epochs=size.bnn_float_epochs, use_cache=not args.no_bnn_cache,
                        parallel_boards=args.parallel_boards, eval_every=size.eval_every, progress=_common.progress())
        print_learn_table(lr)
        result["learning"] = lr
    if args.part in ("all", "rnn"):
        rr = demo_rnn(data_dir, size.workdir, boards=rnn_boards, epochs=size.rnn_epochs, samples=size.rnn_samples,
                      uno_samples=max(2, size.rnn_samples // 5), seed=args.seed, store=store,
                      progress=_common.progress())
        print_rnn_table(rr)
        result["rnn"] = rr
        ok = ok and all(x.get("ok", True) for x in rr["rows"])
    if args.part in ("all", "adapt"):
        ar = demo_adapt(args.board, data_dir, size.workdir, model=result.get("model"), methods=methods,
                        tasks=size.adapt_tasks, shots=size.adapt_shots, queries=size.adapt_queries,
                        epochs=size.adapt_epochs, seed=args.seed, store=store, progress=_common.progress(),
                        dscnn_epochs=size.epochs, parallel_boards=args.parallel_boards)
        print_adapt_table(ar)
        result["adapt"] = ar
        ok = ok and all(x.get("selection_host_agrees", True) for x in ar["rows"])
    _common.write_json(args.json, result)
    return EXIT_OK if ok else EXIT_CHECK_FAILED
