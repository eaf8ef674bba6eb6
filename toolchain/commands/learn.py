"""'mcuforge learn': teach the board keywords its model never saw, on the device.

Generates and flashes firmware for a BNN keyword spotter (.keras from 'mcuforge train bnn-kws'): the
frozen binary backbone, the audio front end and a float head trained on the board (with --port and no
--method, the board already runs that firmware: nothing is flashed, the firmware hash is checked). Then streams labelled
1 s clips (raw 16 kHz audio) from the dataset's train split over the serial link in a random order mixing
old and new classes; the board computes log-mel features and the embedding, and updates its head with the
chosen rule. At intervals the held-out (voice-disjoint) test split is evaluated by the board's head.
Every step's measurement, the accuracy curve and head checkpoints go to the results database; an
interrupted session resumes with --resume RUN_ID without losing a measurement.

With --train-backbone the board also trains, below the head, the channels of the BNN's int8 last
conv that --budget-ram holds (the ones the pretrained head reads most; weights only, the lwf rules
keep the frozen network's embedding as their teacher); checkpoints then hold that slice too, and
each evaluation runs the held-out clips' features through the current slice.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..learning.keywords import BACKBONE_BUDGET, BACKBONE_LR, bnn_metadata, learn
from ..learning.rules import RULES
from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("learn", help="on-device continual learning: add new keywords to a BNN on the board",
                       description=_common.doc(__doc__))
    p.add_argument("model", help="BNN .keras from 'mcuforge train bnn-kws' (with its .json beside it)")
    p.add_argument("--data", required=True, help="dataset folder (Speech Commands layout) holding the new words")
    _common.add_board(p)
    p.add_argument("--rule", default="tinyol", choices=RULES, help="learning rule run on the board (default tinyol)")
    p.add_argument("--new", required=True, help="comma-separated new keywords, e.g. zero or zero,one,two,three")
    p.add_argument("--lr", type=float, default=0.05, help="learning rate (default 0.05)")
    p.add_argument("--batch", type=_common.positive_int, default=8, help="batch size of the batch rules and CWR (default 8)")
    p.add_argument("--train-new", type=_common.positive_int, default=40, help="training clips per new keyword (default 40)")
    p.add_argument("--train-old", type=_common.natural_int, default=8, help="training clips per old class (default 8)")
    p.add_argument("--eval-per-class", type=_common.positive_int, default=30, help="held-out clips per class (default 30)")
    p.add_argument("--eval-every", type=_common.positive_int, default=40, help="evaluate every N training clips (default 40)")
    p.add_argument("--seed", type=_common.natural_int, default=0)
    p.add_argument("--workdir", default=None, help="firmware project folder (default: build/learn-<model>)")
    _common.add_flash_target(p)
    p.add_argument("--train-backbone", action="store_true",
                   help="also train a slice of the BNN's last conv on the board (learning below the head)")
    p.add_argument("--budget-ram", type=_common.positive_int, default=BACKBONE_BUDGET, metavar="BYTES",
                   help=f"with --train-backbone: RAM for the trained slice (default {BACKBONE_BUDGET})")
    p.add_argument("--lr-backbone", type=float, default=BACKBONE_LR,
                   help=f"with --train-backbone: the slice's learning rate (default {BACKBONE_LR})")
    p.add_argument("--resume", type=int, default=None, metavar="RUN_ID", help="continue an interrupted session")
    _common.add_json(p, "the session's results")
    _common.add_db(p)
    p.set_defaults(func=run)


def print_learn(s: dict, out=None) -> None:
    out = out or sys.stdout  # looked up now: the CLI moves stdout to stderr for --json -
    unit = "emulated instructions" if s["cycles_kind"] != "hardware" else "cycles"

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f}%"

    print(f"rule {s['rule']} on {s['board']}: learned {', '.join(s['new_classes'])} from {s['train_clips']} clips "
          f"(run {s['run_id']})", file=out)
    print(f"  accuracy  old {pct(s['accuracy_old'])}  new {pct(s['accuracy_new'])}  all {pct(s['accuracy_all'])} "
          f"on {s['eval_clips']} held-out clips", file=out)
    if s["update_cycles"] is not None:
        print(f"  update    {s['update_cycles']:,.0f} {unit} per sample (median); head {s['head_bytes']:,} bytes",
              file=out)
    b = s.get("backbone")
    if b:
        print(f"  backbone  {b['channels']} of the last conv's {b['out_channels']} channels trained below the head; "
              f"{b['ram_bytes']:,} bytes of RAM", file=out)


def run(args) -> int:
    _common.check_target(args)
    bnn_metadata(Path(args.model))  # before the database is opened
    store = _common.open_store(args)
    s = learn(args.model, args.data, args.board, rule=args.rule, new=args.new, lr=args.lr, batch=args.batch,
              train_new=args.train_new, train_old=args.train_old, eval_per_class=args.eval_per_class,
              eval_every=args.eval_every, seed=args.seed, workdir=args.workdir, store=store, resume=args.resume,
              method=args.method, port=args.port, train_backbone=args.train_backbone, budget_ram=args.budget_ram,
              lr_backbone=args.lr_backbone,
              progress=_common.progress())
    print_learn(s)
    _common.write_json(args.json, s)
    return 0
