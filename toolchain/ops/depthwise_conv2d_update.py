"""Backward of an int8 depthwise 2-D convolution: the filter gradient, applied at once as a
QAS-scaled SGD step to the trainable int8 filter, in place.

Inputs: ``[grad_output (1,OH,OW,C*M) int8, output (forward output), input (1,H,W,C) int8
(forward input), filter (1,KH,KW,C*M) int8 trainable]``; output: the same filter tensor.
``A[ky, kx, o] = sum over (oy, ox) of dz[oy, ox, o] * (x[iy, ix, o / M] - x_zp)``,
``w[.., o] -= round(A * m_w[o])`` for the updated output channels (:mod:`mcuforge.ops._train`).

Neutral attrs: ``stride``, ``dilation``, ``padding``, ``activation``, ``depth_multiplier``,
``learning_rate``, ``channels`` (output channels updated; default all).
Attrs added by :func:`prepare`: ``pad``, ``depth_multiplier``, ``input_offset``,
``act_min``/``act_max``, ``step_multiplier``/``step_shift``, ``channels``.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _train
from .conv2d import c_params, check_int8
from .depthwise_conv2d_grad_input import check_depthwise

KIND = "depthwise_conv2d_update"
INPUTS = ("grad_output", "output", "input", "filter")
OUTPUTS = ("filter",)


def prepare(op: Op, graph: Graph) -> None:
    g, y, x = (graph.tensor(n) for n in op.inputs[:3])
    w = _train.trainable_in_place(op, graph, op.inputs[3], "int8", "filter")
    check_int8(op, graph, [x.name, w.name], ["input", "filter"])
    _train.check_same_shape(g, y)
    check_depthwise(op, x.shape, g.shape, w)
    _train.prepare_conv_step(op, g, y, x, w, w.shape[3])


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    a = op.attrs
    g, y, x, w = inputs
    (h_in, w_in), (oh, ow), k_hw = x.shape[1:3], g.shape[1:3], w.shape[1:3]
    gm = _train.masked(g[0], y[0], op)  # (OH, OW, C*M)
    xo = np.zeros((*_train.padded_hw(op, (h_in, w_in), (oh, ow), k_hw), w.shape[3]), np.int64)
    ph, pw = a["pad"]
    xo[ph:ph + h_in, pw:pw + w_in] = np.repeat(x[0].astype(np.int64) + a["input_offset"],
                                                a["depth_multiplier"], axis=-1)  # padding taps add 0
    sums = np.zeros(w.shape[1:], np.int64)  # (KH, KW, C*M)
    for ky, kx, rows, cols in _train.tap_slices(op, (oh, ow), k_hw):
        sums[ky, kx] = (gm * xo[rows, cols]).sum(axis=(0, 1))
    # the step works on axis 0: put the channel axis first and back
    new = _train.sgd_step(np.moveaxis(w[0], -1, 0), np.moveaxis(sums, -1, 0), op, _train.WEIGHT_MIN, _train.WEIGHT_MAX)
    return [np.moveaxis(new, 0, -1)[None].astype(np.int8)]


def macs(op: Op, graph: Graph) -> int:
    g, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[3])
    return int(np.prod(g.shape[1:3])) * int(w.shape[1] * w.shape[2]) * len(op.attrs["channels"])


def emit(op: Op, graph: Graph, ctx) -> str:
    a = op.attrs
    g, x, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[2]), graph.tensor(op.inputs[3])
    params = c_params(ctx, "mf_depthwise_conv2d_update_params", {
        **_train.geometry_fields(op, x.shape, g.shape, w.shape, depthwise=True),
        "input_offset": a["input_offset"], "n_channels": len(a["channels"]),
    })
    mult, shift, chans = _train.emit_step_arrays(ctx, op)
    gs, ys, xs, ws = (ctx.tensor(n) for n in op.inputs)
    return f"mf_depthwise_conv2d_update_s8(&{params}, {gs}, {ys}, {xs}, {mult}, {shift}, {chans}, {ws});"
