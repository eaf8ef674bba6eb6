"""Backward of an int8 fully connected layer: the weight gradient, applied at once as a QAS-scaled
SGD step to the trainable int8 weights, in place (no gradient buffer).

Inputs: ``[grad_output (B, N) int8, output (B, N) int8 (forward output), input (B, D) int8
(forward input), weights (N, D) int8 trainable, residual (N, D) int16 trainable]``; outputs: the
same weights and residual tensors (updated; the master copy, :mod:`mcuforge.ops._train`).
``A[n, d] = sum_b dz[b, n] * (x[b, d] - x_zp)``, ``w + r / 2^16 -= A[n, d] * m_w[n]`` for the
updated units.

Neutral attrs: ``activation``, ``learning_rate``, ``channels`` (units updated; default all).
Attrs added by :func:`prepare`: ``batches``, ``accum_depth``, ``out_depth``, ``input_offset``,
``act_min``/``act_max``, ``step_multiplier``/``step_shift`` (per unit), ``channels``.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _train
from .conv2d import c_params, check_int8

KIND = "fully_connected_update"
INPUTS = ("grad_output", "output", "input", "weights", "residual")
OUTPUTS = ("weights", "residual")


def prepare(op: Op, graph: Graph) -> None:
    g, y, x = (graph.tensor(n) for n in op.inputs[:3])
    w = _train.trainable_in_place(op, graph, op.inputs[3], "int8", "weights")
    _train.check_residual(op, graph, w)
    check_int8(op, graph, [x.name, w.name], ["input", "weights"])
    _train.check_same_shape(g, y)
    units, depth = w.shape
    if x.size % depth or g.size != x.size // depth * units:
        raise ValueError(f"input {x.shape} and gradient {g.shape} do not fit weights {w.shape}")
    batches = x.size // depth
    _train.set_clamp(op, y)
    _train.set_channels(op, units)
    reals = _train.weight_step_reals(_train.learning_rate(op), _train.grad_scale(g, "gradient"),
                                     float(np.float32(x.quant.s)), w, units)
    _train.set_step_multipliers(op, reals, 128 * 255 * batches, _train.RESIDUAL_BITS)
    op.attrs.update(batches=int(batches), accum_depth=int(depth), out_depth=int(units), input_offset=-x.quant.zp)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    a = op.attrs
    g, y, x, w, r = inputs
    gm = _train.masked(g.reshape(-1, a["out_depth"]), y.reshape(-1, a["out_depth"]), op)
    sums = gm.T @ (x.reshape(-1, a["accum_depth"]).astype(np.int64) + a["input_offset"])  # (N, D)
    return list(_train.master_step(w, r, sums, op))


def macs(op: Op, graph: Graph) -> int:
    a = op.attrs
    return a["batches"] * a["accum_depth"] * len(a["channels"])


def emit(op: Op, graph: Graph, ctx) -> str:
    a = op.attrs
    params = c_params(ctx, "mf_fully_connected_update_params", {
        "batches": a["batches"], "accum_depth": a["accum_depth"], "out_depth": a["out_depth"],
        "input_offset": a["input_offset"], "act_min": a["act_min"], "act_max": a["act_max"],
        "n_channels": len(a["channels"]),
    })
    mult, shift, chans = _train.emit_step_arrays(ctx, op)
    g, y, x, w, r = (ctx.tensor(n) for n in op.inputs)
    return f"mf_fully_connected_update_s8(&{params}, {g}, {y}, {x}, {mult}, {shift}, {chans}, {w}, {r});"
