"""Element-wise add of two int8 tensors of the same shape (residual connections), as TFLM's ADD.

Neutral attrs (front end): ``activation``. Broadcasting is rejected in ``prepare``.

``prepare`` folds the three scales the way TFLM's add_common.cc does: both inputs are
shifted left by 20 bits and rescaled to twice the larger input scale (multipliers < 1),
summed, then rescaled to the output scale. Adds ``in1_offset``, ``in2_offset`` (negated zero
points), ``left_shift``, ``in1_multiplier/shift``, ``in2_multiplier/shift``,
``out_multiplier/shift``, ``out_offset``, ``act_min``, ``act_max``, ``size``.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ..graph.quant import activation_range, multiply_by_quantized_multiplier, quantize_multiplier
from ._checks import ensure_prepared, per_tensor, require_dtype, tensor_in, tensor_out
from ._cparams import params_struct

KIND = "add"
TFLITE = ("ADD",)
INPUTS = ("input1", "input2")  # operand roles; '?' marks an optional one
LEFT_SHIFT = 20  # TFLM's headroom for int8 inputs


def prepare(op: Op, graph: Graph) -> None:
    a, b, y = tensor_in(op, graph, 0), tensor_in(op, graph, 1), tensor_out(op, graph)
    for t, role in ((a, "first input"), (b, "second input"), (y, "output")):
        require_dtype(t, "int8", role)
    if tuple(a.shape) != tuple(b.shape) or a.size != y.size:
        raise ValueError(f"add of shapes {a.shape} and {b.shape} -> {y.shape} needs broadcasting, "
                         "which is not supported: both inputs must have the output's shape")
    s1, zp1 = per_tensor(a, "first input")
    s2, zp2 = per_tensor(b, "second input")
    so, zpo = per_tensor(y, "output")
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << LEFT_SHIFT) * so))
    if max(sh1, sh2, sho) > 0:
        raise ValueError(f"add rescale from scales {s1:g}, {s2:g} to output scale {so:g} needs a multiplier "
                         ">= 1, which TFLM does not support")
    act_min, act_max = activation_range(op.attrs.get("activation", "none"), so, zpo)
    op.attrs.update(
        size=y.size, in1_offset=-zp1, in2_offset=-zp2, left_shift=LEFT_SHIFT,
        in1_multiplier=m1, in1_shift=sh1, in2_multiplier=m2, in2_shift=sh2,
        out_multiplier=mo, out_shift=sho, out_offset=zpo, act_min=int(act_min), act_max=int(act_max),
    )


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "out_multiplier", prepare)
    a = op.attrs
    x1 = (np.asarray(inputs[0]).astype(np.int64).reshape(-1) + a["in1_offset"]) << a["left_shift"]
    x2 = (np.asarray(inputs[1]).astype(np.int64).reshape(-1) + a["in2_offset"]) << a["left_shift"]
    s1 = multiply_by_quantized_multiplier(x1, a["in1_multiplier"], a["in1_shift"])
    s2 = multiply_by_quantized_multiplier(x2, a["in2_multiplier"], a["in2_shift"])
    y = multiply_by_quantized_multiplier(s1 + s2, a["out_multiplier"], a["out_shift"]) + a["out_offset"]
    y = np.clip(y, a["act_min"], a["act_max"])
    return [y.astype(np.int8).reshape(tensor_out(op, graph).shape)]


def macs(op: Op, graph: Graph) -> int:
    return tensor_out(op, graph).size


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "out_multiplier", prepare)
    keys = ("size", "in1_offset", "in2_offset", "left_shift", "in1_multiplier", "in1_shift", "in2_multiplier",
            "in2_shift", "out_multiplier", "out_shift", "out_offset", "act_min", "act_max")
    params = params_struct(ctx, "mf_add_params", {k: op.attrs[k] for k in keys})
    a, b, y = (ctx.tensor(n) for n in (op.inputs[0], op.inputs[1], op.outputs[0]))
    return f"mf_add(&{params}, {a}, {b}, {y});"
