"""Softmax over the last axis, int8 in -> int8 out, as TFLM (reference_ops::Softmax).

Neutral attrs (front end): ``beta``.

TFLM's int8 -> int8 path is gemmlowp fixed point (not a LUT): input differences from the
row maximum are scaled by beta * input_scale into Q5.26, exp() is evaluated in fixed point
(:mod:`mcuforge.graph.fixedpoint`), summed in Q12.19, and each exp is multiplied by the
reciprocal of the sum. The output quantization must be scale 1/256, zero point -128.
``prepare`` adds ``input_multiplier``, ``input_left_shift``, ``diff_min`` (differences below
it give exactly 0), ``outer`` (rows) and ``depth`` (row length).
"""
from __future__ import annotations

import math

import numpy as np

from ..graph import fixedpoint as fp
from ..graph.ir import Graph, Op
from ..graph.quant import quantize_multiplier
from ._checks import ensure_prepared, per_tensor, require_dtype, tensor_in, tensor_out
from ._cparams import params_struct

KIND = "softmax"
TFLITE = ("SOFTMAX",)
INPUTS = ("input",)  # operand roles; '?' marks an optional one
SCALED_DIFF_INTEGER_BITS = 5  # exp() input format Q5.26
ACCUMULATION_INTEGER_BITS = 12  # sum of exps Q12.19


def input_scaling(beta: float, input_scale: float) -> tuple[int, int, int]:
    """TFLite PreprocessSoftmaxScaling + CalculateInputRadius: (multiplier, left_shift, diff_min)."""
    real = min(beta * input_scale * (1 << (31 - SCALED_DIFF_INTEGER_BITS)), (1 << 31) - 1.0)
    multiplier, shift = quantize_multiplier(real)
    if real <= 1.0 or shift < 0:
        raise ValueError(f"softmax beta {beta:g} * input scale {input_scale:g} is too small "
                         "(TFLM needs beta * scale * 2^26 > 1)")
    radius = ((1 << SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)) / (1 << shift)
    return multiplier, shift, -int(math.floor(radius))


def prepare(op: Op, graph: Graph) -> None:
    x, y = tensor_in(op, graph), tensor_out(op, graph)
    require_dtype(x, "int8", "input")
    require_dtype(y, "int8", "output")
    if tuple(x.shape) != tuple(y.shape) or not x.shape:
        raise ValueError(f"softmax input {x.shape} and output {y.shape} must have the same (non-scalar) shape")
    in_s, _ = per_tensor(x, "input")
    out_s, out_zp = per_tensor(y, "output")
    if out_zp != -128 or out_s != 1.0 / 256:
        raise ValueError(f"int8 softmax output must be quantized with scale 1/256 and zero point -128, "
                         f"got scale {out_s:g} zp {out_zp}")
    beta = float(np.float32(op.attrs.get("beta", 1.0)))
    multiplier, shift, diff_min = input_scaling(beta, in_s)
    depth = int(x.shape[-1])
    op.attrs.update(input_multiplier=multiplier, input_left_shift=shift, diff_min=diff_min,
                    depth=depth, outer=x.size // depth)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "diff_min", prepare)
    a = op.attrs
    x = np.asarray(inputs[0]).astype(np.int64).reshape(a["outer"], a["depth"])
    diff = x - x.max(axis=1, keepdims=True)
    used = diff >= a["diff_min"]
    # Differences below diff_min would overflow the left shift; they are masked out anyway.
    scaled = fp.srdhm(np.where(used, diff, 0) << a["input_left_shift"], a["input_multiplier"])
    exps = fp.exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS)
    terms = fp.saturating_rounding_multiply_by_pot(exps, -ACCUMULATION_INTEGER_BITS)  # Q0.31 -> Q12.19
    sum_of_exps = fp.wrap32(np.where(used, terms, 0).sum(axis=1, keepdims=True))
    reciprocal, bits_over_unit = fp.get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
    exponent = bits_over_unit + 31 - 8
    out = fp.rdbpot(fp.srdhm(reciprocal, exps), exponent) - 128
    out = np.where(used, np.clip(out, -128, 127), -128)
    return [out.astype(np.int8).reshape(tensor_out(op, graph).shape)]


def macs(op: Op, graph: Graph) -> int:
    return tensor_in(op, graph).size


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "diff_min", prepare)
    keys = ("outer", "depth", "input_multiplier", "input_left_shift", "diff_min")
    params = params_struct(ctx, "mf_softmax_params", {k: op.attrs[k] for k in keys})
    return f"mf_softmax(&{params}, {ctx.tensor(op.inputs[0])}, {ctx.tensor(op.outputs[0])});"
