"""Backward of an int8 fully connected layer: the gradient w.r.t. its input activations.

Inputs: ``[grad_output (B, N) int8, output (B, N) int8 (the forward output, for the clamp),
weights (N, D) int8 (constant or trainable)]``; output ``grad_input`` (the forward input's shape,
B x D values) int8. ``dx[b, d] = sum_n W[n, d] * dy[b, n]`` through the forward clamp, in the
number formats of :mod:`mcuforge.ops._train`.

Neutral attrs: ``activation`` (the forward layer's fused activation).
Attrs added by :func:`prepare`: ``batches``, ``accum_depth`` (D), ``out_depth`` (N),
``act_min``/``act_max``, ``ratio`` (Q16 per unit), ``multiplier``/``shift``.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _train
from .conv2d import c_params

KIND = "fully_connected_grad_input"
INPUTS = ("grad_output", "output", "weights")


def prepare(op: Op, graph: Graph) -> None:
    g, y, w = (graph.tensor(n) for n in op.inputs)
    gx = graph.tensor(op.outputs[0])
    _train.check_same_shape(g, y)
    if len(w.shape) != 2:
        raise ValueError(f"weights must be 2-D (units, depth), got {w.shape}")
    units, depth = w.shape
    if gx.size % depth or g.size != gx.size // depth * units:
        raise ValueError(f"gradients {g.shape} -> {gx.shape} do not fit weights {w.shape}")
    if w.quant is not None and w.quant.per_channel and w.quant.scale.size != units:
        raise ValueError(f"per-channel weights need {units} scales")
    _train.set_clamp(op, y)
    _train.set_grad_input_quant(op, g, w, gx)
    op.attrs.update(batches=gx.size // depth, accum_depth=int(depth), out_depth=int(units))


def sums(op: Op, graph: Graph, inputs: list[np.ndarray]) -> np.ndarray:
    """The exact 64-bit sums before rounding, shaped as the input gradient (x 2^-16 s_g max s_W: real)."""
    g, y, w = inputs
    n = op.attrs["out_depth"]
    h = _train.masked(g.reshape(-1, n), y.reshape(-1, n), op) * _train.channel_ratio(op, n)
    return (h @ w.astype(np.int64)).reshape(graph.tensor(op.outputs[0]).shape)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [_train.grad_input_output(sums(op, graph, inputs), op)]


def macs(op: Op, graph: Graph) -> int:
    return graph.tensor(op.outputs[0]).size * graph.tensor(op.inputs[2]).shape[0]


def emit(op: Op, graph: Graph, ctx) -> str:
    a = op.attrs
    params = c_params(ctx, "mf_fully_connected_grad_input_params", {
        "batches": a["batches"], "accum_depth": a["accum_depth"], "out_depth": a["out_depth"],
        "act_min": a["act_min"], "act_max": a["act_max"],
        "multiplier": a["multiplier"], "shift": a["shift"],
    })
    ratio = ctx.array("ratio", _train.channel_ratio(op, a["out_depth"]).astype(np.int32), "int32_t",
                      "Q16 weight-scale ratios to the largest, per unit")
    g, y, w = (ctx.tensor(n) for n in op.inputs)
    return f"mf_fully_connected_grad_input_s8(&{params}, {g}, {y}, {w}, {ratio}, {ctx.tensor(op.outputs[0])});"
