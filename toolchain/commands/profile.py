"""``mcuforge profile``: per-layer cycles measured on the target, next to each layer's MACs."""
from __future__ import annotations

import sys

import numpy as np

from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("profile", help="per-layer cycles, MACs and MACs/cycle measured on the board",
                       description=_common.doc(__doc__))
    p.add_argument("model", help="int8 .tflite model")
    _common.add_board(p)
    p.add_argument("--runs", type=_common.positive_int, default=3, help="invocations to take the per-layer median over (default 3)")
    p.add_argument("--seed", type=_common.natural_int, default=0)
    _common.add_json(p)
    _common.add_db(p)
    _common.add_workdir(p)
    p.set_defaults(func=run)


def profile(model, board: str = _common.DEFAULT_BOARD, runs: int = 3, seed: int = 0, workdir=None, store=None,
            method=None, port=None) -> dict:
    from ..model.loader import load
    from ..target import open_target
    from .validate import make_inputs

    model = load(model)
    x = make_inputs(model.graph, runs, seed)
    with open_target(model, board, workdir=workdir, method=method, port=port) as target:
        per_run, totals = [], []
        for xi in x:
            _, total = target.run([xi[None]])
            totals.append(total)
            per_run.append([row["cycles"] for row in target.profile()])
        cycles = np.median(np.array(per_run, dtype=np.float64), axis=0)
        guards = target.link.hello(refresh=True)  # stack high water after the runs (mf_guard.c)
        manifest = target.project.manifest
        grand = float(cycles.sum()) or 1.0
        layers = []
        for info, cyc in zip(manifest["layers"], cycles):
            layers.append(dict(
                index=info["index"], op=info["op"], op_index=info["op_index"],
                input_shape="x".join(map(str, info["inputs"][0])) if info["inputs"] else "",
                output_shape="x".join(map(str, info["output"])), macs=info["macs"], cycles=float(cyc),
                macs_per_cycle=info["macs"] / cyc if cyc else None, share=float(cyc) / grand,
            ))
        result = dict(board=board, model_name=manifest["model_name"], model_hash=target.project.model_hash,
                      firmware_hash=target.project.firmware_hash, cycles_kind=target.cycles_kind,
                      total_cycles=float(np.median(totals)), macs=target.project.macs, layers=layers,
                      flash_bytes=target.build.flash_bytes, ram_bytes=target.build.ram_bytes,
                      arena_bytes=target.project.plan.arena_bytes, stack_bytes=guards.stack_bytes,
                      stack_high_water_bytes=guards.stack_high_water)
        if store is not None:
            rid = store.start_run("profile", model_name=result["model_name"], model_hash=result["model_hash"],
                                  board=board, firmware_hash=result["firmware_hash"], cycles_kind=result["cycles_kind"])
            store.add_layers(rid, layers)
            store.add_metrics(rid, dict(total_cycles=result["total_cycles"], macs=result["macs"],
                                        flash_bytes=result["flash_bytes"], ram_bytes=result["ram_bytes"],
                                        arena_bytes=result["arena_bytes"],
                                        stack_high_water_bytes=result["stack_high_water_bytes"]))
            store.finish_run(rid, status="ok", summary={k: v for k, v in result.items() if k != "layers"})
            result["run_id"] = rid
    return result


def print_profile(result: dict, out=sys.stdout) -> None:
    from ..results.report import cycles_label

    kind = cycles_label(result["cycles_kind"])
    print(f"{result['model_name']} on {result['board']}: cycles are {kind}", file=out)
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
