"""``python -m mcuforge.results``: list runs or write the HTML report (the CLI can reuse ``main``)."""
from __future__ import annotations

import argparse
import sys

from .store import DB_ENV, ResultsError, ResultsStore


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mcuforge.results", description=__doc__)
    p.add_argument("--db", help=f"results database (default: ${DB_ENV} or ./mcuforge.db)")
    sub = p.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="write a self-contained HTML report")
    rep.add_argument("out", help="HTML file to write")
    rep.add_argument("--run", type=int, action="append", help="only this run id (repeatable)")
    rep.add_argument("--kind", help="only runs of this kind")
    rep.add_argument("--limit", type=int, help="only the newest N runs")
    ls = sub.add_parser("runs", help="list runs, newest first")
    ls.add_argument("--kind")
    ls.add_argument("--limit", type=int, default=20)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with ResultsStore(args.db, readonly=True) as store:
            if args.command == "runs":
                for r in store.runs(args.kind, args.limit):
                    print(f"{r.id:>5}  {r.kind:<9} {r.status:<11} {r.started_at}  "
                          f"{r.model_name or '-'}  {r.board or '-'}  {(r.firmware_hash or '-')[:12]}")
                return 0
            from .report import write_report  # matplotlib only when a report is asked for

            runs = args.run if args.run else (
                store.runs(args.kind, args.limit) if (args.kind or args.limit) else None)
            print(write_report(store, args.out, runs))
            return 0
    except (ResultsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
