"""Per-layer profile on the target: MACs, cycles (or emulated instructions / simulated cycles, as the
board counts them), MACs per cycle and each layer's share. ``profile(model, board)`` is the one call;
``mcuforge profile`` prints what it returns.
"""
from __future__ import annotations

import numpy as np

from .boards import DEFAULT_BOARD


def layer_medians(manifest: dict, per_run: list[list[float]]) -> list[dict]:
    """Per-layer rows of a project (its ``manifest``) from each run's per-layer counts: the
    median over the runs, with each layer's MACs, MACs per cycle and share of the total."""
    cycles = np.median(np.array(per_run, dtype=np.float64), axis=0)
    grand = float(cycles.sum()) or 1.0
    return [dict(index=info["index"], op=info["op"], op_index=info["op_index"],
                 input_shape="x".join(map(str, info["inputs"][0])) if info["inputs"] else "",
                 output_shape="x".join(map(str, info["output"])), macs=info["macs"], cycles=float(cyc),
                 macs_per_cycle=info["macs"] / cyc if cyc else None, share=float(cyc) / grand)
            for info, cyc in zip(manifest["layers"], cycles)]


def profile(model, board: str = DEFAULT_BOARD, runs: int = 3, seed: int = 0, workdir=None, store=None,
            method=None, port=None) -> dict:
    from .model.loader import load
    from .target import open_target
    from .validation import make_inputs, start_recording

    model = load(model)
    x = make_inputs(model.graph, runs, seed)
    with open_target(model, board, workdir=workdir, method=method, port=port) as target, \
            start_recording(store, target, board, kind="profile") as run:
        per_run, totals = [], []
        for i, xi in enumerate(x):
            _, total, rows = target.run_profiled([xi[None]])
            totals.append(total)
            per_run.append([row["cycles"] for row in rows])
            if run is not None:  # each run as it is measured: an interrupted profile keeps it
                run.samples([dict(idx=i, cycles=total, layer_cycles=[float(c) for c in per_run[-1]])])
        guards = target.link.hello(refresh=True)  # stack high water after the runs (mf_guard.c)
        manifest = target.project.manifest
        layers = layer_medians(manifest, per_run)
        result = dict(board=board, model_name=manifest["model_name"], model_hash=target.project.model_hash,
                      firmware_hash=target.project.firmware_hash, cycles_kind=target.cycles_kind,
                      total_cycles=float(np.median(totals)), macs=target.project.macs, layers=layers,
                      flash_bytes=target.build.flash_bytes, ram_bytes=target.build.ram_bytes,
                      arena_bytes=target.project.plan.arena_bytes, stack_bytes=guards.stack_bytes,
                      in_place_layers=target.project.plan.in_place_layers(target.project.graph, target.project.layers),
                      stack_high_water_bytes=guards.stack_high_water,
                      per_step=model.kind == "rnn")  # an RNN's invoke is one step of its cell
        if run is not None:
            run.layers(layers)
            run.metrics(dict(total_cycles=result["total_cycles"], macs=result["macs"],
                             flash_bytes=result["flash_bytes"], ram_bytes=result["ram_bytes"],
                             arena_bytes=result["arena_bytes"],
                             stack_high_water_bytes=result["stack_high_water_bytes"]))
            run.summary.update({k: v for k, v in result.items() if k != "layers"})
            result["run_id"] = run.id
    return result

