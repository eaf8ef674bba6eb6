"""Fully connected (dense) layer, int8 (TFLite FULLY_CONNECTED; TFLM reference FullyConnected /
FullyConnectedPerChannel).

Inputs: ``[input (..., D) int8, weights (N, D) int8, bias (N,) int32 (optional)]``; the input is
read as ``batches = size / D`` rows. Output ``(batches, N)``, or the input's leading dims +
``N`` with ``keep_num_dims``.

Neutral attrs (front end): ``activation``, ``keep_num_dims``.

Attrs added by :func:`prepare`: ``batches``, ``accum_depth`` (D), ``out_depth`` (N),
``input_offset``, ``filter_offset`` (-weights zero point; per-tensor only, TFLM ignores it
per-channel), ``output_offset``, ``act_min``, ``act_max``, ``multiplier``/``shift`` (per output
unit if the weights are per-channel quantized, else length 1), ``per_channel``. Per-tensor
multipliers use TFLite's float32 scale product (GetQuantizedConvolutionMultipler).
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from .conv2d import WEIGHT_STORAGE, bias_expr, bias_in, operand, c_params, check_bias, check_int8, requantize, set_quant_attrs, wrap_int32

KIND = "fully_connected"
TFLITE = ("FULLY_CONNECTED",)
INPUTS = ("input", "weights", "bias?")  # operand roles; '?' marks an optional one


def prepare(op: Op, graph: Graph) -> None:
    check_int8(op, graph, [op.inputs[0], op.inputs[1], op.outputs[0]], ["input", "weights", "output"])
    x, w, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    if w.storage not in WEIGHT_STORAGE:
        raise ValueError("the weights must be a constant (or trainable) tensor")
    if len(w.shape) != 2:
        raise ValueError(f"weights must be 2-D (units, depth), got {w.shape}")
    units, depth = w.shape
    if x.size % depth:
        raise ValueError(f"input size {x.size} is not a multiple of the weights' depth {depth}")
    batches = x.size // depth
    if not y.shape or y.shape[-1] != units or y.size != batches * units:
        raise ValueError(f"output shape {y.shape} does not hold {batches} x {units} values")
    per_channel = w.quant.per_channel
    if per_channel and (w.quant.axis != 0 or w.quant.scale.size != units):
        raise ValueError(f"per-channel weight quantization must be on axis 0 with {units} scales")
    if per_channel and np.any(w.quant.zero_point != 0):
        raise ValueError("per-channel weight zero points must be 0")
    check_bias(op, graph, units)
    set_quant_attrs(op, graph, w.quant.scale, per_tensor_float_product=not per_channel)
    op.attrs.update(
        batches=int(batches), accum_depth=int(depth), out_depth=int(units),
        filter_offset=0 if per_channel else -w.quant.zp,
    )


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    a = op.attrs
    w = operand(op, graph, inputs, 1) + a["filter_offset"]
    y = graph.tensor(op.outputs[0])
    x = inputs[0].reshape(a["batches"], a["accum_depth"]).astype(np.int64) + a["input_offset"]
    acc = x @ w.T
    bias = bias_in(op, graph, inputs)
    if bias is not None:
        acc = wrap_int32(acc) + bias
    return [requantize(acc, op).reshape(y.shape)]


def macs(op: Op, graph: Graph) -> int:
    a = op.attrs
    if "batches" in a:
        return a["batches"] * a["accum_depth"] * a["out_depth"]
    w = graph.tensor(op.inputs[1])
    return graph.tensor(op.inputs[0]).size * w.shape[0]


def variant(op: Op, graph: Graph, board) -> str | None:
    """"dsp" (a 1x1 conv2d_dsp, fully_connected_dsp.h) on DSP cores, for symmetric weights."""
    from ._conv_dsp import requant_fits

    a = op.attrs
    fits = a["filter_offset"] == 0 and max(a["batches"], a["accum_depth"], a["out_depth"]) < 2**15
    return "dsp" if board.dsp and fits and requant_fits(op) else None


def scratch_bytes(op: Op, graph: Graph) -> int:
    from ._conv_dsp import conv_scratch_bytes

    a = op.attrs
    return conv_scratch_bytes(a["accum_depth"]) if a.get("variant") == "dsp" else 0


def emit(op: Op, graph: Graph, ctx) -> str:
    a = op.attrs
    if a.get("variant") == "dsp":
        from ._conv_dsp import emit_fully_connected

        return emit_fully_connected(op, graph, ctx)
    params = c_params(ctx, "mf_fully_connected_params", {
        "batches": a["batches"], "accum_depth": a["accum_depth"], "out_depth": a["out_depth"],
        "input_offset": a["input_offset"], "filter_offset": a["filter_offset"],
        "output_offset": a["output_offset"],
        "act_min": a["act_min"], "act_max": a["act_max"],
        "per_channel": a["per_channel"],
    })
    mult = ctx.array("mult", a["multiplier"], "int32_t", "Q31 output multipliers")
    shift = ctx.array("shift", a["shift"], "int32_t", "output shifts (>0: left)")
    return (f"mf_fully_connected_s8(&{params}, {ctx.tensor(op.inputs[0])}, {ctx.tensor(op.inputs[1])}, "
            f"{bias_expr(op, ctx)}, {mult}, {shift}, {ctx.tensor(op.outputs[0])});")
