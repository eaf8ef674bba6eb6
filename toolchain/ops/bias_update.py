"""Backward of the bias of an int8 conv2d, depthwise conv2d or fully connected layer: the bias
gradient, applied at once as a QAS-scaled SGD step to the trainable int32 bias, in place.

Inputs: ``[grad_output (..., C) int8, output (..., C) int8 (forward output), bias (C,) int32
trainable, quantized with the scale s_x * s_W[c] the forward layer gives it]``; output: the same
bias tensor. ``B[c] = sum over every position of dz[..., c]``, ``bias[c] -= round(B[c] * m_b[c])``
with ``m_b = lr * s_g / s_b[c]`` (QAS; :mod:`mcuforge.ops._train`). The same for all three layer
kinds: their bias is added once per output position and channel.

The output operand may instead be its clamp as bits (uint8, :mod:`activation_mask`: the training
graph keeps those where the bias is all the backward reads the output for): the same sums.

Neutral attrs: ``activation``, ``learning_rate``, ``channels`` (default all).
Attrs added by :func:`prepare`: ``positions`` (values per channel), ``channels_total``,
``act_min``/``act_max``, ``step_multiplier``/``step_shift``, ``channels``.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _train
from .activation_mask import mask_bytes, unpacked
from .conv2d import c_params

KIND = "bias_update"
INPUTS = ("grad_output", "output", "bias")
OUTPUTS = ("bias",)


def prepare(op: Op, graph: Graph) -> None:
    g, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    b = _train.trainable_in_place(op, graph, op.inputs[2], "int32", "bias")
    bits = y.dtype == "uint8"
    if bits and y.size != mask_bytes(g.size):
        raise ValueError(f"the clamp bits of a {g.shape} gradient are {mask_bytes(g.size)} bytes, not {y.size}")
    if not bits:
        _train.check_same_shape(g, y)
    channels = b.size
    if not g.shape or g.shape[-1] != channels:
        raise ValueError(f"gradient {g.shape} does not end in the bias' {channels} channels")
    if b.quant is None or b.quant.scale.size not in (1, channels):
        raise ValueError(f"bias {b.name!r} needs its scale (s_x * s_W), one or one per channel")
    positions = g.size // channels
    if bits:
        op.attrs.update(act_min=0, act_max=0)  # in the bits already
    else:
        _train.set_clamp(op, y)
    op.attrs["clamp_bits"] = bits
    _train.set_channels(op, channels)
    s_b = np.broadcast_to(np.asarray(b.quant.scale, np.float32).astype(np.float64).reshape(-1), (channels,))
    lr, s_g = _train.learning_rate(op), _train.grad_scale(g, "gradient")
    _train.set_step_multipliers(op, lr * s_g / s_b, 128 * positions)
    op.attrs.update(positions=int(positions), channels_total=int(channels))


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    a = op.attrs
    g, y, b = inputs
    c = a["channels_total"]
    if a["clamp_bits"]:
        inside = unpacked(y, g.size).reshape(-1, c)
        sums = np.where(inside, g.reshape(-1, c).astype(np.int64), 0).sum(axis=0)
    else:
        sums = _train.masked(g.reshape(-1, c), y.reshape(-1, c), op).sum(axis=0)
    return [_train.sgd_step(b.reshape(-1), sums, op, _train.INT32_MIN, _train.INT32_MAX).astype(np.int32)
            .reshape(b.shape)]


def macs(op: Op, graph: Graph) -> int:
    return op.attrs["positions"] * len(op.attrs["channels"])


def emit(op: Op, graph: Graph, ctx) -> str:
    a = op.attrs
    params = c_params(ctx, "mf_bias_update_params", {
        "positions": a["positions"], "channels": a["channels_total"],
        "act_min": a["act_min"], "act_max": a["act_max"], "n_channels": len(a["channels"]),
    })
    mult, shift, chans = _train.emit_step_arrays(ctx, op)
    g, y, b = (ctx.tensor(n) for n in op.inputs)
    kernel = "mf_bias_update_bits_s32" if a["clamp_bits"] else "mf_bias_update_s32"
    return f"{kernel}(&{params}, {g}, {y}, {mult}, {shift}, {chans}, {b});"
