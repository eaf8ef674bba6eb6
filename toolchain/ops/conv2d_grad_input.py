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

KIND = "conv2d_grad_input"
INPUTS = ("grad_output", "output", "filter")


def check_conv(op: Op, x_shape, g_shape, w) -> None:
    """A (Cout,KH,KW,Cin) filter that maps (1,H,W,Cin) to (1,OH,OW,Cout), per-channel scales on axis 0."""
    if len(w.shape) != 4 or len(x_shape) != 4 or len(g_shape) != 4 or x_shape[0] != 1 or g_shape[0] != 1:
        raise ValueError(f"expects 4-D batch-1 tensors, got {x_shape}, {g_shape}, {w.shape}")
    if w.shape[0] != g_shape[3] or w.shape[3] != x_shape[3]:
        raise ValueError(f"filter {w.shape} does not map {x_shape} to {g_shape}")
    if w.quant is not None and w.quant.per_channel and (w.quant.axis != 0 or w.quant.scale.size != w.shape[0]):
        raise ValueError(f"per-channel filter quantization must be on axis 0 with {w.shape[0]} scales")


def prepare(op: Op, graph: Graph) -> None:
    _train.prepare_conv_grad_input(op, graph, check_conv)


def sums(op: Op, graph: Graph, inputs: list[np.ndarray]) -> np.ndarray:
    """The exact 64-bit sums before rounding, shaped as the input gradient (x 2^-16 s_g max s_W: real)."""
    g, y, w = inputs
    gx = graph.tensor(op.outputs[0])
    h = _train.masked(g[0], y[0], op) * _train.channel_ratio(op, w.shape[0])  # (OH, OW, Cout)
    w64 = w.astype(np.int64)
    acc = _train.scatter_taps(op, gx.shape[1:3], g.shape[1:3], w.shape[1:3], gx.shape[3],
                              lambda ky, kx: h @ w64[:, ky, kx, :])
    return acc.reshape(gx.shape)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [_train.grad_input_output(sums(op, graph, inputs), op)]


def macs(op: Op, graph: Graph) -> int:
    g, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[2])
    return int(np.prod(g.shape[1:3])) * int(np.prod(w.shape))


def emit(op: Op, graph: Graph, ctx) -> str:
    return _train.emit_conv_grad_input(op, graph, ctx, channel_axis=0)
