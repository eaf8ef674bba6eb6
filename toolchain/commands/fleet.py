"""'mcuforge fleet': the same job on many boards at once, its work spread over them.

'--boards N' starts N emulated boards (QEMU or simavr instances of -b BOARD); '--ports P1,P2,...' drives
real boards at those serial ports (each PORT or BOARD=PORT; with --method each is flashed first,
without it each already runs the firmware). 'validate' spreads the samples over the boards,
'profile' the profiled invocations, 'bench' the models. Every board's results go to the database
in a run of its own, tagged with its instance (netduinoplus2#0, uno@/dev/ttyACM0) under one fleet run.
A board that dies or hangs gives its work back to the queue and is restarted (--restarts) or
dropped; nothing is lost or counted twice. Counts are as each board counts: emulated instructions
under QEMU, simulated cycles under simavr, never hardware timings.
"""
from __future__ import annotations

import sys

from ..errors import EXIT_CHECK_FAILED, EXIT_OK
from . import _common



def add_parser(sub) -> None:
    p = sub.add_parser("fleet", help="run validate, profile or bench on many boards in parallel",
                       description=_common.doc(__doc__))
    verbs = p.add_subparsers(dest="fleet_job", metavar="JOB", required=True)
    v = verbs.add_parser("validate", help="samples spread over the boards, each compared with the host reference",
                         description=_common.doc(__doc__))
    v.add_argument("model", help="int8 .tflite model or BNN .keras")
    v.add_argument("--inputs", metavar="X.npy", help="inputs stacked on axis 0 (default: --samples random ones)")
    v.add_argument("--samples", type=_common.positive_int, default=10, help="random inputs (default 10)")
    v.add_argument("--seed", type=_common.natural_int, default=0, help="seed for random inputs")
    pr = verbs.add_parser("profile", help="profiled invocations spread over the boards, per-layer counts",
                          description=_common.doc(__doc__))
    pr.add_argument("model", help="int8 .tflite model or BNN .keras")
    pr.add_argument("--runs", type=_common.positive_int, default=3, help="profiled invocations in all (default 3)")
    pr.add_argument("--seed", type=_common.natural_int, default=0)
    b = verbs.add_parser("bench", help="models spread over the boards, each validated with its counts and bytes",
                         description=_common.doc(__doc__))
    b.add_argument("models", nargs="+", help="int8 .tflite models or BNN .keras files")
    b.add_argument("--samples", type=_common.positive_int, default=3, help="inputs per model (default 3)")
    b.add_argument("--seed", type=_common.natural_int, default=0)
    for q in (v, pr):
        q.add_argument("--project", metavar="DIR", default=None,
                       help="run the firmware already generated in DIR as it is (built if needed), not a new one")
    for q in (v, pr, b):
        _fleet_options(q)


def _fleet_options(p) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--boards", type=_common.positive_int, default=None, metavar="N",
                       help="N emulated boards of -b BOARD (default 2)")
    where.add_argument("--ports", default=None, metavar="P1,P2,...",
                       help="real boards: PORT (a board of -b BOARD) or BOARD=PORT, comma-separated")
    _common.add_board(p)
    p.add_argument("--method", default=None,
                   help="flash method for --ports (default: the boards already run the firmware)")
    p.add_argument("--restarts", type=_common.natural_int, default=1,
                   help="times a board that dies or hangs is started again before it is dropped (default 1)")
    p.add_argument("--attempts", type=_common.positive_int, default=3,
                   help="failures an item may cause before it is set aside as failed (default 3)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="seconds a board may take to answer before it counts as hung (default: the link's)")
    p.add_argument("--workdir", default=None, help="where to generate and build the firmware (default: a temporary folder)")
    _common.add_json(p)
    _common.add_db(p)
    p.set_defaults(func=run)


def _boards(args):
    from ..errors import UsageError
    from ..fleet import check_fleet, emulated_boards, real_boards

    if args.timeout is not None and not 0 < args.timeout < 3600:
        raise UsageError(f"--timeout {args.timeout:g}: give seconds between 0 and 3600")
    if args.ports is not None:
        boards = real_boards(args.ports, args.board)
    else:
        if args.method is not None:
            raise UsageError("--method flashes real boards: give their --ports (emulated boards start their own)")
        boards = emulated_boards(args.board, args.boards or 2)
    check_fleet(boards, args.method)
    return boards


def _job(args):
    from ..fleet import BenchJob, ProfileJob, ValidateJob

    if args.fleet_job == "validate":
        from ..model.loader import load
        from ..validation import load_inputs

        model = load(args.model)
        inputs = load_inputs(args.inputs, model.graph) if args.inputs else None
        return ValidateJob(model, inputs=inputs, samples=args.samples, seed=args.seed, project=args.project)
    if args.fleet_job == "profile":
        return ProfileJob(args.model, runs=args.runs, seed=args.seed, project=args.project)
    return BenchJob(args.models, samples=args.samples, seed=args.seed)


def print_fleet(summary: dict, out=None) -> None:
    """Per board side by side, then the fleet: the counts' spread, bit-exactness, failures."""
    from ..fleet.summary import COUNT_KEY
    from ..results.report import cycles_label

    out = out or sys.stdout  # looked up now: the CLI moves stdout to stderr for --json -
    job = summary["job"]
    what = {"validate": "samples", "profile": "runs", "bench": "models"}[job]
    col = COUNT_KEY[job]
    checked = job != "profile"  # a profile measures; it compares nothing
    head = ["board", what] + (["mismatches"] if checked else []) + (["median", "min", "max"] if col else []) \
        + ["restarts", "status"]
    rows = []
    for b in summary["per_board"]:
        counts = [b.get(col) or 0, b.get("cycles_min") or 0, b.get("cycles_max") or 0] if col else []
        rows.append([b["instance"], b[what], *([b["mismatches"]] if checked else []), *counts, b["restarts"],
                     "dropped" if b["dropped"] else "ok"])
    kind = cycles_label(summary.get("cycles_kind"))
    print(f"fleet {job} of {summary['model_name'] or 'several models'} on {summary['boards']} boards"
          + (f" (counts are {kind})" if col else ""), file=out)
    _common.table(rows, head, out)
    done = f"{summary['items_done']} of {summary['items']} {what} done"
    if job != "profile":
        exact = summary["boards_bit_exact"]
        done += (f", bit-exact on every board ({exact})" if summary["mismatches"] == 0
                 else f", {summary['mismatches']} DIFFER (bit-exact on {exact} of {summary['boards']} boards)")
    print(done, file=out)
    if summary.get("cycles_spread") is not None:
        print(f"spread across boards: {summary['cycles_board_min']:,.0f} .. {summary['cycles_board_max']:,.0f} "
              f"({100 * summary['cycles_spread']:.2f}%) {kind}, board medians", file=out)
    if summary["restarts"] or summary["boards_dropped"] or summary["items_failed"]:
        print(f"failures: {summary['restarts']} restart(s), {summary['boards_dropped']} board(s) dropped, "
              f"{summary['items_failed']} item(s) set aside ({', '.join(summary['failed_items']) or 'none'})", file=out)
        for b in summary["per_board"]:
            for e in b["errors"]:
                print(f"  {b['instance']}: {e}", file=out)


def print_layers(summary: dict, out=None) -> None:
    """A profile's per-layer medians: the fleet's, then each board's side by side."""
    out = out or sys.stdout
    if not summary.get("layers"):
        return
    boards = [b for b in summary["per_board"] if b.get("layers")]
    rows = [[l["index"], l["op"], l["macs"], round(l["cycles"]), f"{100 * l['share']:.1f}%",
             *(round(b["layers"][i]["cycles"]) for b in boards)] for i, l in enumerate(summary["layers"])]
    _common.table(rows, ["#", "op", "MACs", "fleet", "share", *(b["instance"] for b in boards)], out)


def print_bench(summary: dict, result, out=None) -> None:
    out = out or sys.stdout
    from ..results.report import cycles_label

    rows = [[key, inst, r["samples"], r["mismatches"], r["cycles_median"], r["flash_bytes"], r["arena_bytes"]]
            for key, (inst, r) in sorted(result.outcome.done.items())]
    print(f"per model (counts are {cycles_label(summary.get('cycles_kind'))}):", file=out)
    _common.table(rows, ["model", "board", "samples", "mismatches", "median", "flash B", "arena B"], out)


def run(args) -> int:
    from ..fleet import run_fleet
    from ..project import read_manifest

    if getattr(args, "project", None):
        args.board = read_manifest(args.project)["board"]
    boards = _boards(args)
    job = _job(args)
    store = _common.open_store(args)
    result = run_fleet(job, boards, store=store, workdir=args.workdir, method=args.method, restarts=args.restarts,
                       max_attempts=args.attempts, timeout=args.timeout, progress=_common.progress())
    print_fleet(result.summary)
    if job.kind == "bench":
        print_bench(result.summary, result)
    print_layers(result.summary)
    _common.write_json(args.json, dict(result.summary, fleet_run_id=result.run_id))
    return EXIT_OK if result.ok else EXIT_CHECK_FAILED
