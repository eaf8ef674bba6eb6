"""Backward of an int8 2-D convolution (1x1 pointwise included): the filter gradient, applied at
once as a QAS-scaled SGD step to the trainable int8 filter, in place (no gradient buffer).

Inputs: ``[grad_output (1,OH,OW,Cout) int8, output (forward output), input (1,H,W,Cin) int8
(forward input), filter (Cout,KH,KW,Cin) int8 trainable]``; output: the same filter tensor.
``A[co, ky, kx, ci] = sum over (oy, ox) of dz[oy, ox, co] * (x[iy, ix, ci] - x_zp)`` over the
taps inside the image, ``w -= round(A * m_w[co])`` for the updated output channels
(:mod:`mcuforge.ops._train`).

Neutral attrs: ``stride``, ``dilation``, ``padding``, ``activation``, ``learning_rate``,
``channels`` (output channels updated; default all).
Attrs added by :func:`prepare`: ``pad``, ``input_offset``, ``act_min``/``act_max``,
``step_multiplier``/``step_shift``, ``channels``.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _train
from .conv2d import c_params, check_int8

KIND = "conv2d_update"
INPUTS = ("grad_output", "output", "input", "filter")
OUTPUTS = ("filter",)


def prepare(op: Op, graph: Graph) -> None:
    g, y, x = (graph.tensor(n) for n in op.inputs[:3])
    w = _train.trainable_in_place(op, graph, op.inputs[3], "int8", "filter")
    check_int8(op, graph, [x.name, w.name], ["input", "filter"])
    _train.check_same_shape(g, y)
    if len(w.shape) != 4 or len(x.shape) != 4 or len(g.shape) != 4 or x.shape[0] != 1 or g.shape[0] != 1:
        raise ValueError(f"expects 4-D batch-1 input, gradient and filter, got {x.shape}, {g.shape}, {w.shape}")
    if w.shape[0] != g.shape[3] or w.shape[3] != x.shape[3]:
        raise ValueError(f"filter {w.shape} does not map {x.shape} to {g.shape}")
    _train.prepare_conv_step(op, g, y, x, w, w.shape[0])


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    a = op.attrs
    g, y, x, w = inputs
    (h_in, w_in), (oh, ow), k_hw = x.shape[1:3], g.shape[1:3], w.shape[1:3]
    gm = _train.masked(g[0], y[0], op).reshape(-1, w.shape[0])  # (OH*OW, Cout)
    xo = np.zeros((*_train.padded_hw(op, (h_in, w_in), (oh, ow), k_hw), x.shape[3]), np.int64)
    ph, pw = a["pad"]
    xo[ph:ph + h_in, pw:pw + w_in] = x[0].astype(np.int64) + a["input_offset"]  # padding taps add 0
    sums = np.zeros(w.shape, np.int64)
    for ky, kx, rows, cols in _train.tap_slices(op, (oh, ow), k_hw):
        sums[:, ky, kx, :] = gm.T @ xo[rows, cols].reshape(-1, x.shape[3])
    return [_train.sgd_step(w, sums, op, _train.WEIGHT_MIN, _train.WEIGHT_MAX).astype(np.int8)]


def macs(op: Op, graph: Graph) -> int:
    g, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[3])
    return int(np.prod(g.shape[1:3])) * int(np.prod(w.shape[1:])) * len(op.attrs["channels"])


def emit(op: Op, graph: Graph, ctx) -> str:
    a = op.attrs
    g, x, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[2]), graph.tensor(op.inputs[3])
    params = c_params(ctx, "mf_conv2d_update_params", {
        **_train.geometry_fields(op, x.shape, g.shape, w.shape),
        "input_offset": a["input_offset"], "n_channels": len(a["channels"]),
    })
    mult, shift, chans = _train.emit_step_arrays(ctx, op)
    gs, ys, xs, ws = (ctx.tensor(n) for n in op.inputs)
    return f"mf_conv2d_update_s8(&{params}, {gs}, {ys}, {xs}, {mult}, {shift}, {chans}, {ws});"
