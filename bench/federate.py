"""Federated continual learning on Flower at demo size: 8 emulated boards, each hearing only some of the
new keywords, against the one board that saw all the data (measured in the same run, same clips).

    python -m bench.federate [--model build/demo/bnn.keras] [--data build/demo/data] [--boards 8]
                             [--rounds 3] [--aggregation perclass,fedavg] [--rule tinyol]

Prints per aggregation the federated head's held-out accuracy on every new keyword after the last
round next to the all-data board's, and whether the bar (federated >= all-data on every new keyword)
holds. Wall times are host time on this shared machine, not board timings.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

NEW = "zero,one,two,three"


def measure(model, data, boards: int, rounds: int, aggregation: str, rule: str, workdir: Path, store,
            train_new: int = 40, eval_per_class: int = 20) -> dict:
    from mcuforge.federated.federate import federate

    s = federate(model, data, boards=boards, rounds=rounds, rule=rule, new=NEW, aggregation=aggregation,
                 new_per_board=2, train_new=train_new, train_old=8, eval_per_class=eval_per_class, workdir=workdir, store=store,
                 progress=lambda msg: print(msg, file=sys.stderr))
    labels = s["labels"]
    fed, alld = s["federated"][-1]["global"], s["baselines"]["all-data"][-1]
    rows = []
    for c in range(len(labels)):
        k = f"accuracy_class_{c}"
        if k in fed:
            rows.append((labels[c], fed[k], alld.get(k)))
    return dict(summary=s, rows=rows, walls=[r["wall_s"] for r in s["federated"]])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="build/demo/bnn.keras")
    p.add_argument("--data", default="build/demo/data")
    p.add_argument("--boards", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rule", default="tinyol")
    p.add_argument("--aggregation", default="perclass,fedavg")
    p.add_argument("--train-new", type=int, default=40, help="training clips per new keyword over all boards")
    p.add_argument("--eval-per-class", type=int, default=20)
    p.add_argument("--workdir", default="build/bench-federate")
    args = p.parse_args(argv)
    if not Path(args.model).is_file():
        print(f"bench.federate: no BNN at {args.model} (make demo builds one); skipped")
        return 0
    from mcuforge.results.store import ResultsStore

    store = ResultsStore()
    for agg in args.aggregation.split(","):
        r = measure(args.model, args.data, args.boards, args.rounds, agg, args.rule, Path(args.workdir) / agg, store,
                    args.train_new, args.eval_per_class)
        s = r["summary"]
        print(f"{agg}: {args.boards} boards, {args.rounds} rounds, rule {args.rule}; shares (clips per new "
              f"keyword per board): {[row[len(s['labels']) - len(s['new_classes']):] for row in s['shares']]}")
        print(f"  round wall s: {', '.join(f'{w:.1f}' for w in r['walls'])}")
        print("  keyword   federated  all-data board")
        met = True
        for name, fed, alld in r["rows"]:
            met &= alld is None or fed >= alld
            print(f"  {name:9s} {100 * fed:8.1f}%  {100 * alld:8.1f}%" if alld is not None else f"  {name:9s} {100 * fed:8.1f}%")
        g = s["federated"][-1]["global"]
        print(f"  all classes: federated {100 * g['accuracy_all']:.1f}%, all-data "
              f"{100 * s['baselines']['all-data'][-1]['accuracy_all']:.1f}%; bar {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
