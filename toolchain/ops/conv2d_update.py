"""Backward of an int8 2-D convolution (1x1 pointwise included): the filter gradient, applied at
once as a QAS-scaled SGD step to the trainable int8 filter, in place (no gradient buffer).

Inputs: ``[grad_output (1,OH,OW,Cout) int8, output (forward output), input (1,H,W,Cin) int8
(forward input), filter (Cout,KH,KW,Cin) int8 trainable, residual (its shape) int16 trainable]``;
outputs: the same filter and residual tensors (the master copy, :mod:`mcuforge.ops._train`).
``A[co, ky, kx, ci] = sum over (oy, ox) of dz[oy, ox, co] * (x[iy, ix, ci] - x_zp)`` over the
taps inside the image, ``w + r / 2^16 -= A * m_w[co]`` for the updated output channels
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
from .conv2d_grad_input import check_conv

KIND = "conv2d_update"
INPUTS = ("grad_output", "output", "input", "filter", "residual")
OUTPUTS = ("filter", "residual")


def prepare(op: Op, graph: Graph) -> None:
    _train.prepare_conv_update(op, graph, check_conv, channel_axis=0)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    g, y, x, w, r = inputs
    gm = _train.masked(g[0], y[0], op).reshape(-1, w.shape[0])  # (OH*OW, Cout)
    sums = np.zeros(w.shape, np.int64)
    for ky, kx, window in _train.input_windows(op, x[0], g.shape[1:3], w.shape[1:3]):
        sums[:, ky, kx, :] = gm.T @ window.reshape(-1, x.shape[3])
    return list(_train.master_step(w, r, sums, op))


def macs(op: Op, graph: Graph) -> int:
    g, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[3])
    return int(np.prod(g.shape[1:3])) * int(np.prod(w.shape[1:])) * len(op.attrs["channels"])


def emit(op: Op, graph: Graph, ctx) -> str:
    return _train.emit_conv_update(op, graph, ctx)
