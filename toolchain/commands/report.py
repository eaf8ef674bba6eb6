"""``mcuforge report``: an HTML report with plots from the results database."""
from __future__ import annotations

from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="HTML report (per-layer cycles, accuracy, memory) from the results DB",
                       description=_common.doc(__doc__))
    p.add_argument("-o", "--out", default="mcuforge-report.html", help="HTML file to write")
    p.add_argument("--limit", type=int, default=None, help="only the N latest runs")
    _common.add_db(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..results.report import write_report

    store = _common.open_store(args, readonly=True)
    runs = store.runs(limit=args.limit) if args.limit else None
    path = write_report(store, args.out, runs=runs)
    print(f"wrote {path}")
    return 0
