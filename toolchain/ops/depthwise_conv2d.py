"""Depthwise 2-D convolution, int8 (TFLite DEPTHWISE_CONV_2D; TFLM DepthwiseConvPerChannel).

Inputs: ``[input (1,H,W,C) int8, filter (1,KH,KW,C*M) int8, bias (C*M,) int32 (optional)]``,
output ``(1,OH,OW,C*M) int8``; output channel ``c*M + m`` reads input channel ``c``.

Neutral attrs (front end): as :mod:`conv2d` (``stride``, ``dilation``, ``padding``,
``activation``) plus ``depth_multiplier`` M.

Attrs added by :func:`prepare`: ``pad``, ``input_offset``, ``output_offset``, ``act_min``,
``act_max``, ``multiplier``, ``shift``, ``per_channel`` (as conv2d; per-channel scales are on
the filter's last axis).
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from .conv2d import (
    WEIGHT_STORAGE, _windows, bias_expr, bias_in, operand, c_params, check_bias, check_int8, compute_padding,
    conv_output_size, requantize, set_quant_attrs, wrap_int32,
)

KIND = "depthwise_conv2d"
TFLITE = ("DEPTHWISE_CONV_2D",)
INPUTS = ("input", "filter", "bias?")  # operand roles; '?' marks an optional one


def prepare(op: Op, graph: Graph) -> None:
    check_int8(op, graph, [op.inputs[0], op.inputs[1], op.outputs[0]], ["input", "filter", "output"])
    x, w, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        raise ValueError(f"expects 4-D input/filter/output, got {x.shape}, {w.shape}, {y.shape}")
    if x.shape[0] != 1:
        raise ValueError(f"batch {x.shape[0]} is not supported (batch 1 only)")
    if w.storage not in WEIGHT_STORAGE:
        raise ValueError("the filter must be a constant (or trainable) tensor")
    a = op.attrs
    cin, cout = x.shape[3], y.shape[3]
    m = int(a.get("depth_multiplier", cout // max(cin, 1)))
    if w.shape[0] != 1 or w.shape[3] != cout or cout != cin * m:
        raise ValueError(f"filter {w.shape} does not fit input depth {cin} x multiplier {m} = output depth {cout}")
    if np.any(w.quant.zero_point != 0):
        raise ValueError("filter zero points must be 0 (symmetric int8 weights)")
    if w.quant.per_channel and (w.quant.axis != 3 or w.quant.scale.size != cout):
        raise ValueError(f"per-channel filter quantization must be on axis 3 with {cout} scales")
    check_bias(op, graph, cout)
    (sh, sw), (dh, dw) = tuple(a.get("stride", (1, 1))), tuple(a.get("dilation", (1, 1)))
    kh, kw = w.shape[1], w.shape[2]
    pad_mode = a.get("padding", "valid")
    oh = conv_output_size(pad_mode, x.shape[1], kh, sh, dh)
    ow = conv_output_size(pad_mode, x.shape[2], kw, sw, dw)
    if (oh, ow) != tuple(y.shape[1:3]):
        raise ValueError(f"output is {y.shape[1:3]} but {pad_mode} padding gives {(oh, ow)}")
    a["pad"] = (compute_padding(sh, dh, x.shape[1], kh, oh), compute_padding(sw, dw, x.shape[2], kw, ow))
    a["stride"], a["dilation"], a["depth_multiplier"] = (sh, sw), (dh, dw), m
    set_quant_attrs(op, graph, w.quant.scale)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    a = op.attrs
    w = operand(op, graph, inputs, 1)[0]  # (KH, KW, C*M)
    y = graph.tensor(op.outputs[0])
    # Output channel c*M+m reads input channel c: repeat each input channel M times.
    xo = np.repeat(inputs[0][0].astype(np.int64) + a["input_offset"], a["depth_multiplier"], axis=-1)
    acc = np.zeros(y.shape[1:], dtype=np.int64)
    for ky, kx, slab in _windows(xo, y.shape[1:3], w.shape[0:2], a["stride"], a["dilation"], a["pad"]):
        acc += slab * w[ky, kx]
    bias = bias_in(op, graph, inputs)
    if bias is not None:
        acc = wrap_int32(acc) + bias
    return [requantize(acc, op).reshape(y.shape)]


def macs(op: Op, graph: Graph) -> int:
    w = graph.tensor(op.inputs[1])
    y = graph.tensor(op.outputs[0])
    return int(np.prod(y.shape[1:])) * int(w.shape[1] * w.shape[2])


def variant(op: Op, graph: Graph, board) -> str | None:
    """"dsp" (firmware/kernels/depthwise_conv2d_dsp.c) on cores with the DSP extension, multiplier 1."""
    from ._conv_dsp import requant_fits

    return "dsp" if board.dsp and op.attrs["depth_multiplier"] == 1 and requant_fits(op) else None


def scratch_bytes(op: Op, graph: Graph) -> int:
    from ._conv_dsp import depthwise_scratch_bytes

    return depthwise_scratch_bytes(op, graph) if op.attrs.get("variant") == "dsp" else 0


def in_place_scratch_bytes(op: Op, graph: Graph) -> int | None:
    from ._conv_dsp import depthwise_in_place_scratch

    return depthwise_in_place_scratch(op, graph)


def emit(op: Op, graph: Graph, ctx) -> str:
    a = op.attrs
    x, w, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    params = c_params(ctx, "mf_depthwise_conv2d_params", {
        "in_h": x.shape[1], "in_w": x.shape[2], "in_c": x.shape[3],
        "out_h": y.shape[1], "out_w": y.shape[2], "depth_multiplier": a["depth_multiplier"],
        "filter_h": w.shape[1], "filter_w": w.shape[2],
        "stride_h": a["stride"][0], "stride_w": a["stride"][1],
        "dilation_h": a["dilation"][0], "dilation_w": a["dilation"][1],
        "pad_h": a["pad"][0], "pad_w": a["pad"][1],
        "input_offset": a["input_offset"], "output_offset": a["output_offset"],
        "act_min": a["act_min"], "act_max": a["act_max"],
        "per_channel": a["per_channel"],
    })
    if a.get("variant") == "dsp":
        from ._conv_dsp import emit_depthwise

        return emit_depthwise(op, graph, ctx, params)
    mult = ctx.array("mult", a["multiplier"], "int32_t", "Q31 output multipliers")
    shift = ctx.array("shift", a["shift"], "int32_t", "output shifts (>0: left)")
    return (f"mf_depthwise_conv2d_s8(&{params}, {ctx.tensor(op.inputs[0])}, {ctx.tensor(op.inputs[1])}, "
            f"{bias_expr(op, ctx)}, {mult}, {shift}, {ctx.tensor(op.outputs[0])});")
