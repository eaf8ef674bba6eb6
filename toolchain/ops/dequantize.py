"""DEQUANTIZE: int8 -> float32, x = scale * (q - zero_point) in float32, as TFLM's Dequantize.

Neutral attrs: none. ``prepare`` adds ``size``, ``scale`` (the float32 scale), ``zero_point``.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import ensure_prepared, per_tensor, require_dtype, tensor_in, tensor_out
from ._cparams import params_struct

KIND = "dequantize"
TFLITE = ("DEQUANTIZE",)
INPUTS = ("input",)  # operand roles; '?' marks an optional one


def prepare(op: Op, graph: Graph) -> None:
    x, y = tensor_in(op, graph), tensor_out(op, graph)
    require_dtype(x, "int8", "input")
    require_dtype(y, "float32", "output")
    if x.size != y.size:
        raise ValueError(f"dequantize input {x.shape} and output {y.shape} differ in size")
    scale, zp = per_tensor(x, "input")
    op.attrs.update(size=x.size, scale=scale, zero_point=zp)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "scale", prepare)
    q = np.asarray(inputs[0]).astype(np.int32) - op.attrs["zero_point"]
    y = np.float32(op.attrs["scale"]) * q.astype(np.float32)  # one float32 multiply, as C
    return [y.astype(np.float32).reshape(tensor_out(op, graph).shape)]


def macs(op: Op, graph: Graph) -> int:
    return tensor_out(op, graph).size


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "scale", prepare)
    fields = {k: op.attrs[k] for k in ("size", "scale", "zero_point")}
    params = params_struct(ctx, "mf_dequantize_params", fields)
    return f"mf_dequantize(&{params}, {ctx.tensor(op.inputs[0])}, {ctx.tensor(op.outputs[0])});"
