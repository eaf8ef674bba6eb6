"""Backward of an int8 2-D convolution: the gradient w.r.t. its input activations (a transposed
convolution of the output gradient).

Inputs: ``[grad_output (1,OH,OW,Cout) int8, output (1,OH,OW,Cout) int8 (the forward output, for
the clamp), filter (Cout,KH,KW,Cin) int8 (constant or trainable)]``; output ``grad_input``
(1,H,W,Cin) int8. ``dx[iy, ix, ci] = sum over (oy, ox, co, ky, kx) with iy = oy*sh - ph + ky*dh,
ix = ox*sw - pw + kx*dw of W[co, ky, kx, ci] * dz[oy, ox, co]``; padding taps receive nothing.
Number formats: :mod:`mcuforge.ops._train`.

Neutral attrs: the forward conv's ``stride``, ``dilation``, ``padding``, ``activation``.
Attrs added by :func:`prepare`: ``pad``, ``act_min``/``act_max``, ``ratio``, ``multiplier``/``shift``.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _train
from .conv2d import c_params

KIND = "conv2d_grad_input"
INPUTS = ("grad_output", "output", "filter")


def prepare(op: Op, graph: Graph) -> None:
    g, y, w = (graph.tensor(n) for n in op.inputs)
    gx = graph.tensor(op.outputs[0])
    _train.check_same_shape(g, y)
    if len(w.shape) != 4 or len(gx.shape) != 4 or len(g.shape) != 4 or gx.shape[0] != 1 or g.shape[0] != 1:
        raise ValueError(f"expects 4-D batch-1 gradients and filter, got {g.shape}, {w.shape}, {gx.shape}")
    if w.shape[0] != g.shape[3] or w.shape[3] != gx.shape[3]:
        raise ValueError(f"filter {w.shape} does not map {gx.shape} to {g.shape}")
    if w.quant is not None and w.quant.per_channel and (w.quant.axis != 0 or w.quant.scale.size != w.shape[0]):
        raise ValueError(f"per-channel filter quantization must be on axis 0 with {w.shape[0]} scales")
    _train.set_geometry(op, gx.shape[1:3], w.shape[1:3], g.shape[1:3])
    _train.set_clamp(op, y)
    _train.set_grad_input_quant(op, g, w, gx)


def sums(op: Op, graph: Graph, inputs: list[np.ndarray]) -> np.ndarray:
    """The exact 64-bit sums before rounding, shaped as the input gradient (x 2^-16 s_g max s_W: real)."""
    g, y, w = inputs
    gx = graph.tensor(op.outputs[0])
    (h_in, w_in), (oh, ow), k_hw = gx.shape[1:3], g.shape[1:3], w.shape[1:3]
    h = _train.masked(g[0], y[0], op) * _train.channel_ratio(op, w.shape[0])  # (OH, OW, Cout)
    w64 = w.astype(np.int64)
    acc = np.zeros((*_train.padded_hw(op, (h_in, w_in), (oh, ow), k_hw), gx.shape[3]), np.int64)
    for ky, kx, rows, cols in _train.tap_slices(op, (oh, ow), k_hw):
        acc[rows, cols] += h @ w64[:, ky, kx, :]
    ph, pw = op.attrs["pad"]
    return acc[ph:ph + h_in, pw:pw + w_in].reshape(gx.shape)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [_train.grad_input_output(sums(op, graph, inputs), op)]


def macs(op: Op, graph: Graph) -> int:
    g, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[2])
    return int(np.prod(g.shape[1:3])) * int(np.prod(w.shape))


def emit(op: Op, graph: Graph, ctx) -> str:
    a = op.attrs
    g, w, gx = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[2]), graph.tensor(op.outputs[0])
    params = c_params(ctx, "mf_conv2d_grad_input_params", {
        **_train.geometry_fields(op, gx.shape, g.shape, w.shape),
        "multiplier": a["multiplier"], "shift": a["shift"],
    })
    ratio = ctx.array("ratio", _train.channel_ratio(op, w.shape[0]).astype(np.int32), "int32_t",
                      "Q16 filter-scale ratios to the largest, per output channel")
    gs, ys, ws = (ctx.tensor(n) for n in op.inputs)
    return f"mf_conv2d_grad_input_s8(&{params}, {gs}, {ys}, {ws}, {ratio}, {ctx.tensor(op.outputs[0])});"
