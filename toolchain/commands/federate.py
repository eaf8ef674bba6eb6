"""'mcuforge federate': federated continual learning of new keywords over a fleet of boards, on Flower.

Each emulated board is a Flower client (a SuperNode of a SuperLink on loopback, both started and
stopped here) that owns one board's serial link and its own non-IID share of the dataset's train
split: some of the new keywords, a different amount of each. Every round each board learns its
share on the device with --rule from the global head, its learned head is read back and sent to
Flower, the server aggregates (--aggregation perclass: each class row averaged over the boards
that saw that class; fedavg: everything weighted by samples) and the global head is evaluated on
the boards on the held-out split. Then two baselines from the same clips: each board learning
alone, and one board that saw all the data. Per round it prints and stores global accuracy
(old/new/all), each board's local accuracy, bytes over each serial link and over the network,
and wall time. Across machines, run the SuperLink and one SuperNode per host by hand (README).
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..federated.aggregate import MODES
from ..learning.keywords import bnn_metadata
from ..learning.rules import RULES
from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("federate", help="federated continual learning of new keywords over N boards (Flower)",
                       description=_common.doc(__doc__))
    p.add_argument("model", help="BNN .keras from 'mcuforge train bnn-kws' (with its .json beside it)")
    p.add_argument("--data", required=True, help="dataset folder (Speech Commands layout) holding the new words")
    p.add_argument("--boards", type=_common.positive_int, default=3, help="emulated boards, one Flower client each (default 3)")
    p.add_argument("--rounds", type=_common.positive_int, default=3, help="federated rounds (default 3)")
    p.add_argument("--rule", default="tinyol", choices=RULES, help="learning rule run on the boards (default tinyol)")
    p.add_argument("--new", required=True, help="comma-separated new keywords, e.g. zero,one,two,three")
    p.add_argument("--new-per-board", type=_common.positive_int, default=1,
                   help="new keywords each board hears (default 1)")
    p.add_argument("--aggregation", default="perclass", choices=MODES, help="how the server merges heads (default perclass)")
    p.add_argument("--lr", type=float, default=0.05, help="learning rate (default 0.05)")
    p.add_argument("--batch", type=_common.positive_int, default=8, help="batch size of the batch rules and CWR (default 8)")
    p.add_argument("--train-new", type=_common.positive_int, default=40, help="training clips per new keyword, over all boards (default 40)")
    p.add_argument("--train-old", type=_common.natural_int, default=8, help="training clips per old class (default 8)")
    p.add_argument("--eval-per-class", type=_common.positive_int, default=30, help="held-out clips per class (default 30)")
    p.add_argument("--no-baselines", action="store_true", help="skip the alone / all-data baselines")
    p.add_argument("--seed", type=_common.natural_int, default=0)
    p.add_argument("--workdir", default=None, help="firmware, shares and Flower logs (default: build/federate-<model>)")
    _common.add_json(p, "every round's results and the baselines")
    _common.add_db(p)
    p.set_defaults(func=run)


def _pct(v) -> str:
    return "  n/a" if v is None else f"{100 * v:5.1f}%"


def print_federate(s: dict, out=None) -> None:
    out = out or sys.stdout
    print(f"federated {s['rule']} ({s['aggregation']}) over {s['boards']} boards, new {', '.join(s['new_classes'])} "
          f"(run {s['run_id']})", file=out)
    print("round  old     new     all     boards' local all          serial B/board  network B  wall s", file=out)
    for r in s["federated"]:
        g, boards = r["global"], sorted(r["boards"].values(), key=lambda b: b["share"])
        local = " ".join(_pct(b.get("local_accuracy_all")) for b in boards)
        serial = max((b["serial_bytes"] + b.get("eval_serial_bytes", 0) for b in boards), default=0)
        failed = f"  failed: {r['failed']}" if r["failed"] else ""
        print(f"{r['round']:5d}  {_pct(g.get('accuracy_old'))}  {_pct(g.get('accuracy_new'))}  "
              f"{_pct(g.get('accuracy_all'))}  {local:26s} {serial:14,d}  {r['network_bytes']:9,d}  "
              f"{r['wall_s']:6.1f}{failed}", file=out)
    base = s.get("baselines") or {}
    if base:
        last = base["all-data"][-1]
        print(f"one board with all the data: old {_pct(last.get('accuracy_old'))} new {_pct(last.get('accuracy_new'))} "
              f"all {_pct(last.get('accuracy_all'))}", file=out)
        for name, curve in sorted(base["alone"].items()):
            e = curve[-1]
            print(f"{name} alone: old {_pct(e.get('accuracy_old'))} new {_pct(e.get('accuracy_new'))} "
                  f"all {_pct(e.get('accuracy_all'))}", file=out)


def run(args) -> int:
    from ..federated.federate import federate

    bnn_metadata(Path(args.model))  # before the database is opened
    store = _common.open_store(args)
    step = _common.progress()
    s = federate(args.model, args.data, boards=args.boards, rounds=args.rounds, rule=args.rule, new=args.new,
                 lr=args.lr, batch=args.batch, aggregation=args.aggregation, new_per_board=args.new_per_board,
                 train_new=args.train_new, train_old=args.train_old, eval_per_class=args.eval_per_class,
                 seed=args.seed, workdir=args.workdir, store=store, baselines=not args.no_baselines,
                 progress=lambda msg: print(msg, file=sys.stderr) if step else None)
    print_federate(s)
    _common.write_json(args.json, s)
    return 0
