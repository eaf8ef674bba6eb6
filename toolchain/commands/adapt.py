"""'mcuforge adapt': few-shot adaptation of an int8 classifier on the board.

Samples TASKS random tasks from the dataset folder (Speech Commands layout): for each of the
--classes, --shots support clips from the train split and --queries query clips from the test
split, as the model's int8 inputs (MODEL.features.json beside the model, as 'mcuforge train'
writes it). For each task the board starts from the pretrained weights, the support set is
streamed over the link (--epochs training steps per clip), then the query set runs on the board
with what it learned. Class k of the task is the model's output k.

Methods: none (class prototypes of the board's pretrained features, fit on the host; no
backprop), last-layer, bias (every bias), sparse-update (a static scheme: the last layers under
the budgets), tinytrain (TinyTrain's Fisher-potential choice of layers and channels under the
budgets; the board sums the Fisher potentials of the support set in one selection pass and
chooses layers and channels there),
full (every weight and bias, where it fits the board).

--lr auto chooses the method's learning rate first: every rate of a small grid on --tasks
validation tasks (support from the train split, queries from the validation split: other voices
than the test split's, other random draws) on the host's numpy twin (bit-exact with the board),
the best mean validation accuracy kept (where a grid edge wins, the grid goes on past it while that
helps; those rates are printed with a +); then the test tasks (queries from the test split only)
run on the board with it.
"""
from __future__ import annotations

import sys

from ..train.adapt import DEFAULT_LEARNING_RATES, HEADS, METHODS, adapt, check_method, kws_tasks
from ..train.adapt_lr import AUTO, LR_GRID, adapt_at_chosen_rate, learning_rate, validation_tasks
from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("adapt", help="few-shot adaptation on the board: train on a task's support set, "
                                     "evaluate its query set", description=_common.doc(__doc__))
    p.add_argument("model", help="int8 .tflite classifier (a DS-CNN from 'mcuforge train dscnn-kws', "
                                 "with its .features.json beside it)")
    p.add_argument("--data", required=True, help="dataset folder (Speech Commands layout)")
    _common.add_board(p)
    p.add_argument("--method", default="tinytrain", choices=METHODS, help="what trains (default tinytrain)")
    p.add_argument("--classes", required=True, help="comma-separated words of the task, e.g. yes,no")
    p.add_argument("--shots", type=_common.positive_int, default=5, help="support clips per class (default 5)")
    p.add_argument("--queries", type=_common.positive_int, default=10, help="query clips per class (default 10)")
    p.add_argument("--tasks", type=_common.positive_int, default=3, help="random tasks (default 3)")
    p.add_argument("--epochs", type=_common.positive_int, default=3, help="passes over the support set (default 3)")
    p.add_argument("--augment", type=_common.natural_int, default=0, metavar="N",
                   help="train each epoch also on N augmented views of every support clip (time shift, speed, "
                        "SpecAugment masks, drawn afresh each epoch; default 0: the clips only)")
    p.add_argument("--budget-ram", type=_common.positive_int, default=16384,
                   help="bytes tinytrain/sparse-update may use: the trainable weight copies plus the activations "
                        "and gradients the backward keeps (an estimate; the forward's own buffers come on top; "
                        "default 16384)")
    p.add_argument("--budget-macs", type=_common.positive_int, default=None,
                   help="backward MACs per step tinytrain/sparse-update may use (default: one forward's)")
    p.add_argument("--lr", type=learning_rate, default=None,
                   help="learning rate (default per method: "
                        + ", ".join(f"{m} {lr:g}" for m, lr in DEFAULT_LEARNING_RATES.items())
                        + f"), or {AUTO}: the best of {', '.join(map(str, LR_GRID))} on validation tasks (host twin), "
                        "then the test tasks on the board")
    p.add_argument("--head", default="prototypes", choices=list(HEADS),
                   help="where the trained methods' new classifier rows start: imprinted from the support set's "
                        "class prototypes (default) or the pretrained rows")
    p.add_argument("--seed", type=_common.natural_int, default=0)
    p.add_argument("--workdir", default=None, help="where the firmware is generated (default: a temporary folder)")
    _common.add_json(p, "the summary")
    _common.add_db(p)
    p.set_defaults(func=run)


def print_adapt(r: dict, out=None) -> None:
    out = out or sys.stdout  # looked up when called: --json - moves stdout to stderr
    print(f"{r['method']} on {r['board']}: {r['tasks']} task(s) of {len(r['classes'])} classes "
          f"({', '.join(r['classes'])}), {r['shots']} shots, {r['queries']} queries per class", file=out)
    print(f"  accuracy   {100 * r['accuracy']:.1f}% +- {100 * r['accuracy_std']:.1f}", file=out)
    print(f"  memory     {r['train_memory_bytes']:,} bytes on the board (arena {r['arena_bytes']:,}, of it "
          f"trainable copies {r['trainable_bytes']:,}; stack high-water {r['stack_high_water_bytes']:,})", file=out)
    counts = ("no counts (trained on the host)" if r["cycles_per_step"] is None
              else f"{r['cycles_per_step']:,.0f} {r['cycles_kind']}")
    print(f"  per step   {r['macs_per_step']:,.0f} MACs, {counts}", file=out)
    if r.get("augment"):
        print(f"  augment    {r['augment']} view(s) of each support clip per epoch: {r['steps_per_task']} steps a task",
              file=out)
    if r.get("trained_on", "board") != "board":
        print(f"  trained on {r['trained_on']}", file=out)
    if r.get("learning_rate") is not None:
        sel = r.get("learning_rate_selection")
        grid = ", ".join(f"{g['learning_rate']:g}{'+' if g['learning_rate'] in sel['extended'] else ''} "
                         f"{100 * g['accuracy']:.1f}%" for g in sel["grid"]) if sel else ""
        print(f"  lr         {r['learning_rate']:g}" + (f" (the best on {sel['tasks']} validation task(s), host twin: "
                                                          f"{grid})" if sel else ""), file=out)
    print(f"  selection  {r['selection_ran']}", file=out)
    if "selection_cycles" in r:
        print(f"             its pass {r['selection_cycles']:,.0f} {r['cycles_kind']} over the support set, "
              f"{r['selection_memory_bytes']:,} bytes on the board; the host's choice from the same sums "
              f"{'agrees' if r['selection_host_agrees'] else 'DIFFERS'}", file=out)
    if r.get("recoveries"):
        print(f"  recovered  {r['recoveries']} lost board(s) from the checkpoint of their last step", file=out)
    if r.get("run_id") is not None:
        print(f"  stored     run {r['run_id']} (with the trained tensors after every step)", file=out)
    for k, chosen in enumerate(r.get("chosen", [])):
        what = ", ".join(f"layer {c['layer']} ({c['kind']}) {c['channels']}/{c['of']} channels" for c in chosen)
        print(f"  task {k + 1} chose {what}", file=out)


def run(args) -> int:
    from ..boards import load_board

    check_method(args.method)
    load_board(args.board)
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    auto = args.lr == AUTO
    tasks = kws_tasks(args.model, args.data, classes, args.shots, args.queries, args.tasks, seed=args.seed,
                      query_split="test" if auto else None)  # auto: never the validation split's voices
    say = (lambda msg: print(msg, file=sys.stderr)) if _common.progress() else None
    settings = dict(board=args.board, method=args.method, epochs=args.epochs, budget_ram=args.budget_ram,
                    budget_macs=args.budget_macs, seed=args.seed, head=args.head, workdir=args.workdir,
                    augment=args.augment,
                    store=_common.open_store(args), progress=say)
    if auto:
        val = validation_tasks(args.model, args.data, classes, args.shots, args.queries, args.tasks, seed=args.seed)
        r = adapt_at_chosen_rate(args.model, tasks, val, classes, **settings)
    else:
        r = adapt(args.model, tasks, classes, learning_rate=args.lr, **settings)
    print_adapt(r)
    summary = {k: v for k, v in r.items() if k != "per_task"}
    summary["per_task"] = [{k: v for k, v in row.items() if k not in ("trained", "prototypes")} for row in r["per_task"]]
    _common.write_json(args.json, summary)
    return 0
