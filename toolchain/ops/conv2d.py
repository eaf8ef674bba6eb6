"""2-D convolution, int8 (TFLite CONV_2D; TFLM reference_integer_ops::ConvPerChannel).

Inputs: ``[input (1,H,W,Cin) int8, filter (Cout,KH,KW,Cin) int8, bias (Cout,) int32 (optional)]``,
output ``(1,OH,OW,Cout) int8``.

Neutral attrs (front end): ``stride=(h, w)``, ``dilation=(h, w)``, ``padding="same"|"valid"``,
``activation="none"|"relu"|"relu6"|"relu_n1_to_1"``.

Attrs added by :func:`prepare`: ``pad=(top, left)`` (TFLite ComputePaddingHeightWidth; TFLM
ignores the odd extra pixel, which falls at the bottom/right), ``input_offset`` (-input zero
point), ``output_offset`` (output zero point), ``act_min``/``act_max`` (fused activation
clamp), ``multiplier``/``shift`` (int32 arrays, one per output channel when the filter is
per-channel quantized, else length 1) and ``per_channel``.

Shared helpers for the conv family (also usable by pooling): :func:`compute_padding`,
:func:`conv_output_size`, :func:`conv_multipliers`, :func:`wrap_int32`.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ..graph.quant import activation_range, multiply_by_quantized_multiplier, quantize_multipliers
from ._cparams import params_struct

KIND = "conv2d"
TFLITE = ("CONV_2D",)
INPUTS = ("input", "filter", "bias?")  # operand roles; '?' marks an optional one


# ---------------------------------------------------------------- shared conv-family maths


def conv_output_size(padding: str, in_size: int, filter_size: int, stride: int, dilation: int = 1) -> int:
    """TFLite ComputeOutSize."""
    effective = (filter_size - 1) * dilation + 1
    if padding == "same":
        return (in_size + stride - 1) // stride
    if padding == "valid":
        return (in_size + stride - effective) // stride
    raise ValueError(f"unknown padding {padding!r}")


def compute_padding(stride: int, dilation: int, in_size: int, filter_size: int, out_size: int) -> int:
    """Leading pad of one spatial axis (TFLite ComputePaddingWithOffset; the odd pixel goes at the end)."""
    effective = (filter_size - 1) * dilation + 1
    total = max((out_size - 1) * stride + effective - in_size, 0)
    return total // 2


def conv_multipliers(in_scale, filter_scales, out_scale, per_tensor_float_product: bool = False):
    """Q31 multipliers/shifts for input_scale * filter_scale[c] / output_scale, as TFLM computes them.

    Scales are float32 in the model. Conv, depthwise and per-channel FC multiply in double;
    per-tensor FC (GetQuantizedConvolutionMultipler) multiplies the two float32 scales in float32
    first (``per_tensor_float_product``).
    """
    fs = np.asarray(filter_scales, dtype=np.float32).reshape(-1)
    ins = np.float32(in_scale)
    outs = np.float64(np.float32(out_scale))
    if per_tensor_float_product:
        reals = [float(np.float64(np.float32(ins * f))) / outs for f in fs]
    else:
        reals = [float(np.float64(ins) * np.float64(f)) / outs for f in fs]
    return quantize_multipliers(reals)


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Wrap int64 values to int32 like the C accumulator (never hit by sane models)."""
    return ((np.asarray(x, dtype=np.int64) + 2**31) % 2**32) - 2**31


WEIGHT_STORAGE = ("constant", "trainable")  # weights and biases: flash, or a RAM copy being trained


def check_int8(op: Op, graph: Graph, names: list[str], what: list[str]) -> None:
    for n, w in zip(names, what):
        t = graph.tensor(n)
        if t.dtype != "int8":
            raise ValueError(f"{w} is {t.dtype}; only int8 (full-integer quantized) models are supported")
        if t.quant is None:
            raise ValueError(f"{w} has no quantization parameters")


def check_bias(op: Op, graph: Graph, channels: int) -> None:
    if len(op.inputs) > 2 and op.inputs[2]:
        b = graph.tensor(op.inputs[2])
        if b.dtype != "int32" or b.storage not in WEIGHT_STORAGE:
            raise ValueError(f"bias must be a constant (or trainable) int32 tensor (got {b.dtype} {b.storage})")
        if b.size != channels:
            raise ValueError(f"bias has {b.size} values for {channels} output channels")


def bias_of(op: Op, graph: Graph) -> np.ndarray | None:
    if len(op.inputs) > 2 and op.inputs[2]:
        return graph.tensor(op.inputs[2]).data.astype(np.int64).reshape(-1)
    return None


def operand(op: Op, graph: Graph, inputs: list, i: int) -> np.ndarray:
    """Weights or bias as a reference reads them (int64): the value passed in (the executor passes
    a trainable tensor's current value), else the constant's data (callers that pass only the input)."""
    v = inputs[i] if len(inputs) > i and inputs[i] is not None else graph.tensor(op.inputs[i]).data
    return np.asarray(v).astype(np.int64)


def bias_in(op: Op, graph: Graph, inputs: list) -> np.ndarray | None:
    """The bias a reference adds (see :func:`operand`), or None."""
    return operand(op, graph, inputs, 2).reshape(-1) if len(op.inputs) > 2 and op.inputs[2] else None


def requantize(acc: np.ndarray, op: Op) -> np.ndarray:
    """int32 accumulator (last axis = output channel) -> clamped int8, as the C kernels do."""
    a = op.attrs
    mult = np.asarray(a["multiplier"], dtype=np.int64)
    shift = np.asarray(a["shift"], dtype=np.int64)
    out = multiply_by_quantized_multiplier(wrap_int32(acc), mult, shift) + a["output_offset"]
    return np.clip(out, a["act_min"], a["act_max"]).astype(np.int8)


def set_quant_attrs(op: Op, graph: Graph, filter_scales, per_tensor_float_product: bool = False) -> None:
    """input/output offsets, multipliers and the activation clamp shared by conv, depthwise and FC."""
    x = graph.tensor(op.inputs[0])
    y = graph.tensor(op.outputs[0])
    if x.quant.per_channel or y.quant.per_channel:
        raise ValueError("per-channel quantized activations are not supported")
    mult, shift = conv_multipliers(x.quant.scale[0], filter_scales, y.quant.scale[0], per_tensor_float_product)
    act_min, act_max = activation_range(op.attrs.get("activation", "none"), np.float32(y.quant.scale[0]), y.quant.zp)
    op.attrs.update(
        input_offset=-x.quant.zp,
        output_offset=y.quant.zp,
        act_min=int(act_min),
        act_max=int(act_max),
        multiplier=mult,
        shift=shift,
        per_channel=bool(np.asarray(filter_scales).size > 1),
    )


def c_params(ctx, struct: str, fields: dict) -> str:
    """Declare the layer's ``static const <struct> L<i>_params MF_CONST`` (integer fields); returns its name."""
    return params_struct(ctx, struct, {k: int(v) for k, v in fields.items()})


def bias_expr(op: Op, ctx) -> str:
    return ctx.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else "NULL"


# ---------------------------------------------------------------- conv2d


def prepare(op: Op, graph: Graph) -> None:
    check_int8(op, graph, [op.inputs[0], op.inputs[1], op.outputs[0]], ["input", "filter", "output"])
    x, w, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        raise ValueError(f"expects 4-D input/filter/output, got {x.shape}, {w.shape}, {y.shape}")
    if x.shape[0] != 1:
        raise ValueError(f"batch {x.shape[0]} is not supported (batch 1 only)")
    if w.storage not in WEIGHT_STORAGE:
        raise ValueError("the filter must be a constant (or trainable) tensor")
    cout, kh, kw, cin = w.shape
    if cin != x.shape[3]:
        raise ValueError(f"grouped convolution (filter depth {cin}, input depth {x.shape[3]}) is not supported")
    if y.shape[3] != cout:
        raise ValueError(f"output depth {y.shape[3]} does not match filter count {cout}")
    if np.any(w.quant.zero_point != 0):
        raise ValueError("filter zero points must be 0 (symmetric int8 weights)")
    if w.quant.per_channel and (w.quant.axis != 0 or w.quant.scale.size != cout):
        raise ValueError(f"per-channel filter quantization must be on axis 0 with {cout} scales")
    check_bias(op, graph, cout)
    a = op.attrs
    (sh, sw), (dh, dw) = tuple(a.get("stride", (1, 1))), tuple(a.get("dilation", (1, 1)))
    pad_mode = a.get("padding", "valid")
    oh = conv_output_size(pad_mode, x.shape[1], kh, sh, dh)
    ow = conv_output_size(pad_mode, x.shape[2], kw, sw, dw)
    if (oh, ow) != tuple(y.shape[1:3]):
        raise ValueError(f"output is {y.shape[1:3]} but {pad_mode} padding gives {(oh, ow)}")
    a["pad"] = (compute_padding(sh, dh, x.shape[1], kh, oh), compute_padding(sw, dw, x.shape[2], kw, ow))
    a["stride"], a["dilation"] = (sh, sw), (dh, dw)
    set_quant_attrs(op, graph, w.quant.scale)


def _windows(xo: np.ndarray, out_hw, k_hw, stride, dilation, pad):
    """Yield (ky, kx, slab) where slab[oy, ox, c] is the (zero-padded) input seen by tap (ky, kx)."""
    oh, ow = out_hw
    kh, kw = k_hw
    sh, sw = stride
    dh, dw = dilation
    ph, pw = pad
    h, w = xo.shape[0], xo.shape[1]
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    padded = np.zeros((max(need_h, ph + h), max(need_w, pw + w), xo.shape[2]), dtype=xo.dtype)
    padded[ph : ph + h, pw : pw + w] = xo
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            yield ky, kx, padded[y0 : y0 + (oh - 1) * sh + 1 : sh, x0 : x0 + (ow - 1) * sw + 1 : sw]


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    a = op.attrs
    w = operand(op, graph, inputs, 1)
    y = graph.tensor(op.outputs[0])
    # Padding with -input_offset makes out-of-image taps contribute 0, like TFLM skipping them.
    xo = inputs[0][0].astype(np.int64) + a["input_offset"]
    acc = np.zeros(y.shape[1:], dtype=np.int64)
    for ky, kx, slab in _windows(xo, y.shape[1:3], w.shape[1:3], a["stride"], a["dilation"], a["pad"]):
        acc += slab @ w[:, ky, kx, :].T
    bias = bias_in(op, graph, inputs)
    if bias is not None:
        acc = wrap_int32(acc) + bias
    return [requantize(acc, op).reshape(y.shape)]


def macs(op: Op, graph: Graph) -> int:
    w = graph.tensor(op.inputs[1])
    y = graph.tensor(op.outputs[0])
    return int(np.prod(y.shape[:3])) * int(np.prod(w.shape))


def variant(op: Op, graph: Graph, board) -> str | None:
    """"dsp" (firmware/kernels/conv2d_dsp.c) on cores with the DSP extension, where it applies."""
    from ._conv_dsp import requant_fits

    return "dsp" if board.dsp and requant_fits(op) else None


def scratch_bytes(op: Op, graph: Graph) -> int:
    from ._conv_dsp import conv_scratch_bytes

    w = graph.tensor(op.inputs[1])
    return conv_scratch_bytes(int(np.prod(w.shape[1:]))) if op.attrs.get("variant") == "dsp" else 0


def in_place_scratch_bytes(op: Op, graph: Graph) -> int | None:
    from ._conv_dsp import conv_in_place_scratch

    return conv_in_place_scratch(op, graph)


def emit(op: Op, graph: Graph, ctx) -> str:
    a = op.attrs
    x, w, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    params = c_params(ctx, "mf_conv2d_params", {
        "in_h": x.shape[1], "in_w": x.shape[2], "in_c": x.shape[3],
        "out_h": y.shape[1], "out_w": y.shape[2], "out_c": y.shape[3],
        "filter_h": w.shape[1], "filter_w": w.shape[2],
        "stride_h": a["stride"][0], "stride_w": a["stride"][1],
        "dilation_h": a["dilation"][0], "dilation_w": a["dilation"][1],
        "pad_h": a["pad"][0], "pad_w": a["pad"][1],
        "input_offset": a["input_offset"], "output_offset": a["output_offset"],
        "act_min": a["act_min"], "act_max": a["act_max"],
        "per_channel": a["per_channel"],
    })
    if a.get("variant") == "dsp":
        from ._conv_dsp import emit_conv2d

        return emit_conv2d(op, graph, ctx, params)
    mult = ctx.array("mult", a["multiplier"], "int32_t", "Q31 output multipliers")
    shift = ctx.array("shift", a["shift"], "int32_t", "output shifts (>0: left)")
    return (f"mf_conv2d_s8(&{params}, {ctx.tensor(op.inputs[0])}, {ctx.tensor(op.inputs[1])}, "
            f"{bias_expr(op, ctx)}, {mult}, {shift}, {ctx.tensor(op.outputs[0])});")
