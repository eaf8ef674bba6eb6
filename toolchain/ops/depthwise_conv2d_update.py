"""Backward of an int8 depthwise 2-D convolution: the filter gradient, applied at once as a
QAS-scaled SGD step to the trainable int8 filter, in place.

Inputs: ``[grad_output (1,OH,OW,C*M) int8, output (forward output), input (1,H,W,C) int8
(forward input), filter (1,KH,KW,C*M) int8 trainable, residual (its shape) int16 trainable]``;
outputs: the same filter and residual tensors (the master copy, :mod:`mcuforge.ops._train`).
``A[ky, kx, o] = sum over (oy, ox) of dz[oy, ox, o] * (x[iy, ix, o / M] - x_zp)``,
``w[.., o] + r[.., o] / 2^16 -= A * m_w[o]`` for the updated output channels.

Neutral attrs: ``stride``, ``dilation``, ``padding``, ``activation``, ``depth_multiplier``,
``learning_rate``, ``channels`` (output channels updated; default all).
Attrs added by :func:`prepare`: ``pad``, ``depth_multiplier``, ``input_offset``,
``act_min``/``act_max``, ``step_multiplier``/``step_shift``, ``channels``.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _train
from .depthwise_conv2d_grad_input import check_depthwise

KIND = "depthwise_conv2d_update"
INPUTS = ("grad_output", "output", "input", "filter", "residual")
OUTPUTS = ("filter", "residual")


def prepare(op: Op, graph: Graph) -> None:
    _train.prepare_conv_update(op, graph, check_depthwise, channel_axis=3)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    g, y, x, w, r = inputs
    gm = _train.masked(g[0], y[0], op)  # (OH, OW, C*M)
    sums = np.zeros(w.shape[1:], np.int64)  # (KH, KW, C*M)
    for ky, kx, window in _train.input_windows(op, x[0], g.shape[1:3], w.shape[1:3], op.attrs["depth_multiplier"]):
        sums[ky, kx] = (gm * window).sum(axis=(0, 1))
    # the step works on axis 0: put the channel axis first and back
    new_w, new_r = _train.master_step(np.moveaxis(w[0], -1, 0), np.moveaxis(r[0], -1, 0), np.moveaxis(sums, -1, 0), op)
    return [np.moveaxis(new_w, 0, -1)[None], np.moveaxis(new_r, 0, -1)[None]]


def macs(op: Op, graph: Graph) -> int:
    g, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[3])
    return int(np.prod(g.shape[1:3])) * int(w.shape[1] * w.shape[2]) * len(op.attrs["channels"])


def emit(op: Op, graph: Graph, ctx) -> str:
    return _train.emit_conv_update(op, graph, ctx, depthwise=True)
