"""Backward of an int8 depthwise 2-D convolution: the gradient w.r.t. its input activations.

Inputs: ``[grad_output (1,OH,OW,C*M) int8, output (forward output), filter (1,KH,KW,C*M) int8
(constant or trainable)]``; output ``grad_input`` (1,H,W,C) int8. Input channel c collects the
gradients of its M output channels c*M+m through the taps that read it. Number formats:
:mod:`mcuforge.ops._train`.

Neutral attrs: ``stride``, ``dilation``, ``padding``, ``activation``, ``depth_multiplier``.
Attrs added by :func:`prepare`: ``pad``, ``depth_multiplier``, ``act_min``/``act_max``, ``ratio``,
``multiplier``/``shift``.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _train

KIND = "depthwise_conv2d_grad_input"
INPUTS = ("grad_output", "output", "filter")


def check_depthwise(op: Op, x_shape, g_shape, w) -> int:
    """The depth multiplier M of a depthwise layer (1,H,W,C) -> (1,OH,OW,C*M), checked."""
    if len(w.shape) != 4 or len(x_shape) != 4 or len(g_shape) != 4 or x_shape[0] != 1 or g_shape[0] != 1:
        raise ValueError(f"expects 4-D batch-1 tensors, got {x_shape}, {g_shape}, {w.shape}")
    cin, cout = x_shape[3], g_shape[3]
    m = int(op.attrs.get("depth_multiplier", cout // max(cin, 1)))
    if w.shape[0] != 1 or w.shape[3] != cout or cout != cin * m:
        raise ValueError(f"filter {w.shape} does not fit input depth {cin} x multiplier {m} = output depth {cout}")
    if w.quant is not None and w.quant.per_channel and (w.quant.axis != 3 or w.quant.scale.size != cout):
        raise ValueError(f"per-channel filter quantization must be on axis 3 with {cout} scales")
    op.attrs["depth_multiplier"] = m
    return m


def prepare(op: Op, graph: Graph) -> None:
    _train.prepare_conv_grad_input(op, graph, check_depthwise)


def sums(op: Op, graph: Graph, inputs: list[np.ndarray]) -> np.ndarray:
    """The exact 64-bit sums before rounding, shaped as the input gradient (x 2^-16 s_g max s_W: real)."""
    g, y, w = inputs
    gx = graph.tensor(op.outputs[0])
    h = _train.masked(g[0], y[0], op) * _train.channel_ratio(op, w.shape[3])  # (OH, OW, C*M)
    w64 = w[0].astype(np.int64)
    acc = _train.scatter_taps(op, gx.shape[1:3], g.shape[1:3], w.shape[1:3], w.shape[3],
                              lambda ky, kx: h * w64[ky, kx])
    return acc.reshape(*gx.shape[1:], -1).sum(axis=-1).reshape(gx.shape)  # M output channels per input


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [_train.grad_input_output(sums(op, graph, inputs), op)]


def macs(op: Op, graph: Graph) -> int:
    g, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[2])
    return int(np.prod(g.shape[1:])) * int(w.shape[1] * w.shape[2])


def emit(op: Op, graph: Graph, ctx) -> str:
    return _train.emit_conv_grad_input(op, graph, ctx, channel_axis=3, depthwise=True)
