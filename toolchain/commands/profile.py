"""``mcuforge profile``: per-layer cycles measured on the target, next to each layer's MACs."""
from __future__ import annotations

import sys


from ..profiling import profile
from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("profile", help="per-layer cycles, MACs and MACs/cycle measured on the board",
                       description=_common.doc(__doc__))
    p.add_argument("model", help="int8 .tflite model, BNN .keras, or .rnn.keras (per-step cycles of its cell)")
    _common.add_board(p)
    p.add_argument("--runs", type=_common.positive_int, default=3, help="invocations to take the per-layer median over (default 3)")
    p.add_argument("--seed", type=_common.natural_int, default=0)
    _common.add_json(p)
    _common.add_db(p)
    _common.add_workdir(p)
    p.set_defaults(func=run)


def print_profile(result: dict, out=None) -> None:
    out = out or sys.stdout  # looked up now: the CLI moves stdout to stderr for --json -
    from ..results.report import cycles_label

    kind = cycles_label(result["cycles_kind"])
    print(f"{result['model_name']} on {result['board']}: cycles are {kind}", file=out)
    if result.get("per_step"):
        print("one invoke is one step of the RNN cell and its classifier (per frame; an instance runs window steps)",
              file=out)
    rows = [[l["index"], l["op"], l["input_shape"], l["output_shape"], l["macs"], round(l["cycles"]),
             l["macs_per_cycle"] or 0.0, f"{100 * l['share']:.1f}%"] for l in result["layers"]]
    rows.append(["", "total", "", "", result["macs"], round(result["total_cycles"]),
                 result["macs"] / result["total_cycles"] if result["total_cycles"] else 0.0, ""])
    emulated = result["cycles_kind"] == "emulated-instructions"
    unit, per = ("instructions", "MACs/instr") if emulated else ("cycles", "MACs/cycle")
    _common.table(rows, ["#", "op", "input", "output", "MACs", unit, per, "share"], out)
    if result.get("stack_bytes"):
        print(f"stack: {result['stack_high_water_bytes']:,} of {result['stack_bytes']:,} bytes used at most "
              f"(painted-stack high-water mark since boot)", file=out)


def run(args) -> int:
    _common.check_target(args)
    result = profile(args.model, args.board, runs=args.runs, seed=args.seed, workdir=args.workdir,
                     store=_common.open_store(args), method=args.method, port=args.port)
    print_profile(result)
    _common.write_json(args.json, result)
    return 0
