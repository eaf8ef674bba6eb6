"""Maths shared by the backward ops (mirrors firmware/kernels/mf_train.h): the gradient of an int8
layer, quantization-aware scaling and the in-place SGD step, written once.

Private (``_``-prefixed), so the op registry does not load it as an op.

The number formats (one choice for every backward op):

- A **gradient tensor** is int8, symmetric (zero point 0), with a per-tensor scale fixed at
  generation time like an activation's: real gradient = ``scale * g``.
- The forward clamp (fused ReLU/ReLU6, int8 saturation) passes the gradient only where the
  forward output ``y`` lies strictly inside ``(act_min, act_max)``: elsewhere it is 0 (the
  derivative of a clamp; the straight-through estimator inside it).
- **Input gradient**: ``dx[d] = sum_n W[n, d] * dz[n]`` with per-channel weight scales folded as
  Q16 ratios to the largest (``ratio[n] = round(2^16 * s_W[n] / max s_W)``), summed exactly in 64
  bits, rounded back by ``2^-16`` (half up), saturated to int32, then requantized to the input
  gradient's scale with TFLite's MultiplyByQuantizedMultiplier and clamped to [-128, 127].
- **QAS** (Lin et al. 2022): an int8 weight is ``W/s_W`` and an int32 bias ``b/(s_x s_W)``, so the
  float step ``W -= lr * G_W`` is, on the stored integers, ``w -= lr * G_W / s_W`` (= G_w * s_W^-2,
  G_w = s_W G_W the integer graph's own gradient) and ``b -= lr * G_b / (s_x s_W)`` (= G_b *
  s_W^-2 s_x^-2). With ``G_W = s_g s_x A`` (A the integer sum of gradient x (input - zero point))
  and ``G_b = s_g B`` (B the integer sum of gradients), the step is ``A * m_w`` with
  ``m_w = lr s_g s_x / s_W[n]`` and ``B * m_b`` with ``m_b = lr s_g / s_b[n]`` (s_b = s_x s_W[n],
  the bias tensor's own scale): Q31 multipliers folded at generation time.
- **Master copy of a trained weight**: the int8 weight ``w`` the forward reads plus an int16
  residual ``r`` (a trainable tensor of its own, ``residual:<weights>``): the master value is
  ``w + r / 2^16`` (``RESIDUAL_BITS``). A step is applied to the master, ``v = w * 2^16 + r``
  less ``round(sum * m * 2^16)`` (the product exact in 64 bits, one rounding, ties away from
  zero), clamped to [-127, 127] * 2^16 (TFLite's symmetric int8 weight range); the forward's int8
  weight is v rounded to the nearest unit (half up), the residual the rest. A step of less than
  half an int8 unit is kept in the residual instead of rounding to nothing (with a plain int8
  weight, a learning rate the int8 formats allow moved almost no weight). Trained weights so
  take 3 bytes each in the arena (``TRAINED_WEIGHT_BYTES``).
- **Rounding of a bias step**: TFLite's MultiplyByQuantizedMultiplier (rounding doubling high
  multiply, then a rounding right shift with ties away from zero); an int32 bias is already fine
  grained (its unit is s_x s_W), biases saturate at int32.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op, Tensor
from ..graph.quant import (INT32_MAX, INT32_MIN, activation_range, multiply_by_quantized_multiplier,
                           quantize_multiplier, quantize_multipliers)
from .conv2d import c_params, check_int8, compute_padding, conv_output_size

GRAD_MIN, GRAD_MAX = -128, 127
WEIGHT_MIN, WEIGHT_MAX = -127, 127
RATIO_BITS = 16  # weight-scale ratios are Q16
RESIDUAL_BITS = 16  # a trained weight's master copy: w + r / 2^16 (mf_train.h MF_RESIDUAL_BITS)
TRAINED_WEIGHT_BYTES = 3  # the int8 weight and its int16 residual


def grad_scale(t: Tensor, role: str) -> float:
    """The per-tensor scale of an int8 gradient tensor (zero point 0), as float32 stores it."""
    if t.dtype != "int8":
        raise ValueError(f"{role} tensor {t.name!r} is {t.dtype}; gradients are int8")
    if t.quant is None or t.quant.scale.size != 1:
        raise ValueError(f"{role} tensor {t.name!r} needs one (per-tensor) gradient scale")
    if t.quant.zp != 0:
        raise ValueError(f"{role} tensor {t.name!r} has zero point {t.quant.zp}; gradients are symmetric (0)")
    s = float(np.float32(t.quant.s))
    if not s > 0.0:
        raise ValueError(f"{role} tensor {t.name!r} has non-positive scale {s}")
    return s


def check_same_shape(a: Tensor, b: Tensor) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"gradient {a.name!r} {a.shape} and output {b.name!r} {b.shape} differ in shape")


def set_clamp(op: Op, y: Tensor) -> None:
    """act_min/act_max of the forward layer whose output is ``y`` (its ``activation`` attr)."""
    if y.dtype != "int8" or y.quant is None or y.quant.per_channel:
        raise ValueError(f"forward output {y.name!r} must be per-tensor quantized int8")
    lo, hi = activation_range(op.attrs.get("activation", "none"), np.float32(y.quant.s), y.quant.zp)
    op.attrs.update(act_min=int(lo), act_max=int(hi))


def masked(grad: np.ndarray, output: np.ndarray, op: Op) -> np.ndarray:
    """The gradient through the forward clamp (int64): 0 where the output sat at a bound."""
    a = op.attrs
    inside = (output > a["act_min"]) & (output < a["act_max"])
    return np.where(inside, grad.astype(np.int64), 0)


def set_geometry(op: Op, in_hw, k_hw, out_hw) -> None:
    """stride, dilation and leading pad (as the forward conv computes them) from the neutral attrs."""
    a = op.attrs
    (sh, sw), (dh, dw) = tuple(a.get("stride", (1, 1))), tuple(a.get("dilation", (1, 1)))
    mode = a.get("padding", "valid")
    want = (conv_output_size(mode, in_hw[0], k_hw[0], sh, dh), conv_output_size(mode, in_hw[1], k_hw[1], sw, dw))
    if want != tuple(out_hw):
        raise ValueError(f"output is {tuple(out_hw)} but {mode} padding gives {want}")
    a["pad"] = (compute_padding(sh, dh, in_hw[0], k_hw[0], out_hw[0]),
                compute_padding(sw, dw, in_hw[1], k_hw[1], out_hw[1]))
    a["stride"], a["dilation"] = (sh, sw), (dh, dw)


def geometry_fields(op: Op, x_shape, g_shape, w_shape, depthwise: bool = False) -> dict:
    """The params-struct fields every conv-family backward kernel shares: its ``mf_window``
    (``win``: planes, taps, stride, dilation, padding, the forward clamp; mf_train.h) and the
    depths (``x_shape``: the forward input's shape)."""
    a = op.attrs
    kh, kw = w_shape[1:3]
    win = {"in_h": x_shape[1], "in_w": x_shape[2], "out_h": g_shape[1], "out_w": g_shape[2],
           "filter_h": kh, "filter_w": kw, "stride_h": a["stride"][0], "stride_w": a["stride"][1],
           "dilation_h": a["dilation"][0], "dilation_w": a["dilation"][1], "pad_h": a["pad"][0],
           "pad_w": a["pad"][1], "act_min": a["act_min"], "act_max": a["act_max"]}
    return {**{f"win.{k}": v for k, v in win.items()}, "in_c": x_shape[3],
            **({"depth_multiplier": a["depth_multiplier"]} if depthwise else {"out_c": g_shape[3]})}


def tap_slices(op: Op, out_hw, k_hw):
    """Yield (ky, kx, rows, cols): the slices of the zero-padded input (:func:`padded_hw`) that tap
    (ky, kx) reads for every output pixel."""
    a = op.attrs
    (oh, ow), (kh, kw) = out_hw, k_hw
    (sh, sw), (dh, dw) = a["stride"], a["dilation"]
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            yield ky, kx, slice(y0, y0 + (oh - 1) * sh + 1, sh), slice(x0, x0 + (ow - 1) * sw + 1, sw)


def padded_hw(op: Op, in_hw, out_hw, k_hw) -> tuple[int, int]:
    a = op.attrs
    need = [(o - 1) * s + (k - 1) * d + 1 for o, s, k, d in zip(out_hw, a["stride"], k_hw, a["dilation"])]
    return max(need[0], a["pad"][0] + in_hw[0]), max(need[1], a["pad"][1] + in_hw[1])


def input_windows(op: Op, x: np.ndarray, out_hw, k_hw, repeat: int = 1):
    """Yield (ky, kx, window): what tap (ky, kx) reads of the forward input ``x`` (H, W, C) plus
    ``input_offset`` at every output pixel, (OH, OW, C*repeat) int64 (channels repeated for a
    depthwise multiplier); taps in the padding read 0, so they add nothing."""
    (h_in, w_in), (ph, pw) = x.shape[:2], op.attrs["pad"]
    xo = np.zeros((*padded_hw(op, (h_in, w_in), out_hw, k_hw), x.shape[2] * repeat), np.int64)
    xo[ph:ph + h_in, pw:pw + w_in] = np.repeat(x.astype(np.int64) + op.attrs["input_offset"], repeat, axis=-1)
    for ky, kx, rows, cols in tap_slices(op, out_hw, k_hw):
        yield ky, kx, xo[rows, cols]


def scatter_taps(op: Op, in_hw, out_hw, k_hw, depth: int, tap_values) -> np.ndarray:
    """The transposed walk: ``tap_values(ky, kx)`` (OH, OW, depth) added at the input pixels tap
    (ky, kx) reads; -> (H, W, depth) int64, what lands in the padding dropped."""
    acc = np.zeros((*padded_hw(op, in_hw, out_hw, k_hw), depth), np.int64)
    for ky, kx, rows, cols in tap_slices(op, out_hw, k_hw):
        acc[rows, cols] += tap_values(ky, kx)
    ph, pw = op.attrs["pad"]
    return acc[ph:ph + in_hw[0], pw:pw + in_hw[1]]


def prepare_conv_grad_input(op: Op, graph: Graph, check_shapes) -> None:
    """What a conv or depthwise input gradient derives (``check_shapes(op, x_shape, g_shape, w)``
    checks the layer's own shapes): geometry, clamp, Q16 ratios and the output multiplier."""
    g, y, w = (graph.tensor(n) for n in op.inputs)
    gx = graph.tensor(op.outputs[0])
    check_same_shape(g, y)
    check_shapes(op, gx.shape, g.shape, w)
    set_geometry(op, gx.shape[1:3], w.shape[1:3], g.shape[1:3])
    set_clamp(op, y)
    set_grad_input_quant(op, g, w, gx)


def prepare_conv_update(op: Op, graph: Graph, check_shapes, channel_axis: int) -> None:
    """What a conv or depthwise weight update derives from its inputs, checked: geometry, clamp,
    channels (on the filter's ``channel_axis``), QAS step multipliers, input offset."""
    g, y, x = (graph.tensor(n) for n in op.inputs[:3])
    w = trainable_in_place(op, graph, op.inputs[3], "int8", "filter")
    check_residual(op, graph, w)
    check_int8(op, graph, [x.name, w.name], ["input", "filter"])
    check_same_shape(g, y)
    check_shapes(op, x.shape, g.shape, w)
    prepare_conv_step(op, g, y, x, w, w.shape[channel_axis])


def emit_conv_grad_input(op: Op, graph: Graph, ctx, channel_axis: int, depthwise: bool = False) -> str:
    a = op.attrs
    g, w, gx = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[2]), graph.tensor(op.outputs[0])
    params = c_params(ctx, f"mf_{op.kind}_params", {
        **geometry_fields(op, gx.shape, g.shape, w.shape, depthwise),
        "multiplier": a["multiplier"], "shift": a["shift"],
    })
    ratio = ctx.array("ratio", channel_ratio(op, w.shape[channel_axis]).astype(np.int32), "int32_t",
                      "Q16 filter-scale ratios to the largest, per output channel")
    gs, ys, ws = (ctx.tensor(n) for n in op.inputs)
    return f"mf_{op.kind}_s8(&{params}, {gs}, {ys}, {ws}, {ratio}, {ctx.tensor(op.outputs[0])});"


def emit_conv_update(op: Op, graph: Graph, ctx, depthwise: bool = False) -> str:
    a = op.attrs
    g, x, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[2]), graph.tensor(op.inputs[3])
    params = c_params(ctx, f"mf_{op.kind}_params", {
        **geometry_fields(op, x.shape, g.shape, w.shape, depthwise),
        "input_offset": a["input_offset"], "n_channels": len(a["channels"]),
    })
    mult, shift, chans = emit_step_arrays(ctx, op)
    gs, ys, xs, ws, rs = (ctx.tensor(n) for n in op.inputs)
    return f"mf_{op.kind}_s8(&{params}, {gs}, {ys}, {xs}, {mult}, {shift}, {chans}, {ws}, {rs});"


# ---------------------------------------------------------------- input gradient


def set_grad_input_quant(op: Op, g: Tensor, w: Tensor, gx: Tensor) -> None:
    """ratio (Q16 weight-scale ratios per output channel) and the one multiplier/shift that takes
    the rounded sum to the input gradient's scale: s_g * max(s_W) / s_gx."""
    if w.dtype != "int8" or w.quant is None or np.any(w.quant.zero_point != 0):
        raise ValueError(f"weights {w.name!r} must be symmetric int8 (zero point 0)")
    s_g, s_gx = grad_scale(g, "gradient"), grad_scale(gx, "input gradient")
    scales = np.asarray(w.quant.scale, np.float32).astype(np.float64).reshape(-1)
    top = float(scales.max())
    ratio = np.floor(scales / top * (1 << RATIO_BITS) + 0.5).astype(np.int32)  # in [0, 2^16]
    mult, shift = quantize_multiplier(s_g * top / s_gx)
    op.attrs.update(ratio=ratio, multiplier=int(mult), shift=int(shift))


def channel_ratio(op: Op, channels: int) -> np.ndarray:
    r = np.asarray(op.attrs["ratio"], np.int64)
    return np.broadcast_to(r, (channels,)) if r.size == 1 else r


def grad_input_output(acc64: np.ndarray, op: Op) -> np.ndarray:
    """The exact 64-bit sum -> int8 input gradient: round by 2^-16 (half up), saturate, requantize."""
    acc = np.clip((np.asarray(acc64, np.int64) + (1 << (RATIO_BITS - 1))) >> RATIO_BITS, INT32_MIN, INT32_MAX)
    out = multiply_by_quantized_multiplier(acc, op.attrs["multiplier"], op.attrs["shift"])
    return np.clip(out, GRAD_MIN, GRAD_MAX).astype(np.int8)


# ---------------------------------------------------------------- QAS-scaled SGD steps


def trainable_in_place(op: Op, graph: Graph, name: str, dtype: str, role: str, output: int = 0) -> Tensor:
    t = graph.tensor(name)
    if t.storage != "trainable":
        raise ValueError(f"{role} {name!r} is {t.storage}; only a trainable tensor is updated in place")
    if t.dtype != dtype:
        raise ValueError(f"{role} {name!r} is {t.dtype}; the update needs {dtype}")
    if len(op.outputs) <= output or op.outputs[output] != name:
        raise ValueError(f"the update writes {role} {name!r} in place: its output {output} must be that tensor")
    return t


def check_residual(op: Op, graph: Graph, w: Tensor) -> Tensor:
    """The weight update's 5th input and 2nd output: the trainable int16 residual of ``w``."""
    r = trainable_in_place(op, graph, op.inputs[4], "int16", "residual", output=1)
    if tuple(r.shape) != tuple(w.shape):
        raise ValueError(f"residual {r.name!r} {r.shape} must have the weights' shape {w.shape}")
    return r


def set_channels(op: Op, count: int) -> None:
    """``channels``: the output channels updated (the attr, default all), checked and sorted."""
    chans = op.attrs.get("channels")
    chans = list(range(count)) if chans is None else sorted({int(c) for c in chans})
    if not chans or chans[0] < 0 or chans[-1] >= count:
        raise ValueError(f"channels {op.attrs.get('channels')} must be a non-empty subset of 0..{count - 1}")
    op.attrs["channels"] = chans


def learning_rate(op: Op) -> float:
    lr = float(op.attrs.get("learning_rate", 0.0))
    if not lr > 0.0:
        raise ValueError(f"learning_rate must be > 0, got {op.attrs.get('learning_rate')}")
    return lr


def set_step_multipliers(op: Op, reals, max_sum: int, fraction_bits: int = 0) -> None:
    """Q31 multipliers/shifts of the per-channel step ``sum * real[c]``; refuses steps whose
    integer sum (up to ``max_sum``) could wrap 32 bits in the multiply's left shift, or (for a
    step taken at ``fraction_bits`` below the unit) leave no right shift."""
    reals = np.asarray(reals, np.float64)
    too_big = max_sum >= 2**31 or max_sum * float(reals.max()) >= 2**31
    if not too_big:
        mult, shift = quantize_multipliers(reals)
        too_big = max_sum * 2.0 ** max(int(shift.max()), 0) >= 2**31 or int(shift.max()) > 30 - fraction_bits
    if too_big:
        raise ValueError(f"a step of up to {max_sum} x {float(reals.max()):.3g} does not fit 32 bits; "
                         "lower the learning rate or the gradient scale")
    op.attrs.update(step_multiplier=mult, step_shift=shift)


def weight_step_reals(lr: float, s_g: float, s_x: float, w: Tensor, channels: int) -> np.ndarray:
    """QAS: m_w[c] = lr * s_g * s_x / s_W[c] (the int8 weights' step per unit of the integer sum)."""
    scales = np.broadcast_to(np.asarray(w.quant.scale, np.float32).astype(np.float64).reshape(-1), (channels,))
    return lr * s_g * s_x / scales


def prepare_conv_step(op: Op, g: Tensor, y: Tensor, x: Tensor, w: Tensor, channels: int) -> None:
    """What a conv or depthwise weight update derives: geometry, clamp, channels, QAS step
    multipliers, input offset."""
    set_geometry(op, x.shape[1:3], w.shape[1:3], g.shape[1:3])
    set_clamp(op, y)
    set_channels(op, channels)
    reals = weight_step_reals(learning_rate(op), grad_scale(g, "gradient"), float(np.float32(x.quant.s)), w, channels)
    set_step_multipliers(op, reals, 128 * 255 * g.shape[1] * g.shape[2], RESIDUAL_BITS)
    op.attrs["input_offset"] = -x.quant.zp


def sgd_step(values: np.ndarray, sums: np.ndarray, op: Op, lo: int, hi: int) -> np.ndarray:
    """values[c] - round(sums[c] * m[c]) clamped to [lo, hi], for c in op's channels (axis 0 of
    ``values``/``sums``); other channels keep their value."""
    a = op.attrs
    out = values.astype(np.int64).copy()
    for c in a["channels"]:
        step = multiply_by_quantized_multiplier(sums[c], a["step_multiplier"][c], a["step_shift"][c])
        out[c] = np.clip(out[c] - step, lo, hi)
    return out


def master_step(weights: np.ndarray, residual: np.ndarray, sums: np.ndarray, op: Op) -> tuple[np.ndarray, np.ndarray]:
    """The step on the master copy (module docstring): for c in op's channels (axis 0 of all
    three), v = w * 2^16 + r - round(sums[c] * m[c] * 2^16), clamped; -> (int8 w, int16 r)."""
    a = op.attrs
    unit = 1 << RESIDUAL_BITS
    v = weights.astype(np.int64) * unit + residual.astype(np.int64)
    for c in a["channels"]:
        p = np.asarray(sums[c], np.int64) * int(a["step_multiplier"][c])
        s = 31 - RESIDUAL_BITS - int(a["step_shift"][c])
        half = 1 << (s - 1)
        step = np.where(p >= 0, (p + half) >> s, -((-p + half) >> s))
        v[c] = np.clip(v[c] - step, WEIGHT_MIN * unit, WEIGHT_MAX * unit)
    q = (v + unit // 2) >> RESIDUAL_BITS
    return q.astype(np.int8), (v - q * unit).astype(np.int16)


def emit_step_arrays(ctx, op: Op) -> tuple[str, str, str]:
    """The flash arrays every update kernel takes: step multipliers, shifts, updated channels."""
    a = op.attrs
    mult = ctx.array("step_mult", a["step_multiplier"], "int32_t", "QAS step multipliers (Q31), per channel")
    shift = ctx.array("step_shift", a["step_shift"], "int32_t", "their shifts (>0: left)")
    chans = ctx.array("channels", np.asarray(a["channels"], np.int16), "int16_t", "output channels updated")
    return mult, shift, chans
