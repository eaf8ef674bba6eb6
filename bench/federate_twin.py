"""Federated continual learning swept over many random draws on the host twin (no QEMU): the same shares,
the board's head rule as its numpy twin and the same aggregation as ``mcuforge federate``, per draw its own
clips and non-IID shares (seeds 0..draws-1), against the one board that saw all the data (same shares).

    python -m bench.federate_twin [--model build/demo/bnn.keras] [--data build/demo/data] [--draws 10]
                                  [--boards 8] [--rounds 5] [--aggregation perclass,fedavg] [--rule tinyol]

Prints per aggregation and for the all-data board the held-out accuracy after the last round on all
classes, on the old (pretrained) classes and on each new keyword, the mean over the draws (all: with its
standard deviation over draws).
Embeddings are the host's numpy twins of the board's front end and folded network.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

NEW = "zero,one,two,three"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="build/demo/bnn.keras")
    p.add_argument("--data", default="build/demo/data")
    p.add_argument("--draws", type=int, default=10)
    p.add_argument("--boards", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--rule", default="tinyol")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--aggregation", default="perclass,fedavg")
    p.add_argument("--new", default=NEW)
    p.add_argument("--new-per-board", type=int, default=2)
    p.add_argument("--train-new", type=int, default=40, help="training clips per new keyword over all boards")
    p.add_argument("--train-old", type=int, default=8, help="training clips per old class over all boards")
    p.add_argument("--eval-per-class", type=int, default=20)
    args = p.parse_args(argv)
    if not Path(args.model).is_file():
        print(f"bench.federate_twin: no BNN at {args.model} (make demo builds one); skipped")
        return 0
    from mcuforge.federated.twin import sweep

    t0 = time.monotonic()
    try:
        s = sweep(args.model, args.data, draws=args.draws, boards=args.boards, rounds=args.rounds, rule=args.rule,
                  new=args.new, lr=args.lr, batch=args.batch, aggregations=args.aggregation.split(","),
                  new_per_board=args.new_per_board, train_new=args.train_new, train_old=args.train_old,
                  eval_per_class=args.eval_per_class, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    except (ValueError, FileNotFoundError) as e:  # bad settings, a missing dataset or keyword folder
        print(f"bench.federate_twin: {e}", file=sys.stderr)
        return 2
    import numpy as np

    labels, first = s["labels"], s["pretrained"]
    print(f"host twin: {args.boards} boards, {args.rounds} rounds, rule {args.rule} (lr {args.lr}, batch {args.batch}), "
          f"{args.new_per_board} new keywords per board, {args.draws} draws; mean over draws, "
          f"{time.monotonic() - t0:.0f} s")
    print(f"  {'':9s} {'all':>14s} {'old':>6s} " + " ".join(f"{w:>6s}" for w in labels[first:]))
    for name, m in s["mean"].items():
        spread = np.std([r[name]["accuracy_all"] for r in s["draws"]])
        per = " ".join(f"{100 * m[f'accuracy_class_{c}']:5.1f}%" for c in range(first, len(labels)))
        print(f"  {name:9s} {100 * m['accuracy_all']:6.1f}% +-{100 * spread:4.1f} {100 * m['accuracy_old']:5.1f}% {per}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
