"""QUANTIZE: float32 -> int8, or int8 -> int8 requantization, as TFLM's quantize.cc.

Neutral attrs: none (everything comes from the tensors' quantization).

- float32 -> int8: q = round(x / scale) + zero_point, clamped; the division is float32 and
  the rounding half away from zero (TfLiteRound), like TFLM's AffineQuantize.
- int8 -> int8: q = MultiplyByQuantizedMultiplier(x - in_zp, in_scale / out_scale) + out_zp,
  clamped (TFLM's Requantize).

``prepare`` adds ``mode`` ("float" or "requantize") and the fields of the C params.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ..graph.quant import multiply_by_quantized_multiplier, quantize_multiplier
from ._checks import ensure_prepared, per_tensor, require_dtype, tensor_in, tensor_out
from ._cparams import params_struct

KIND = "quantize"
TFLITE = ("QUANTIZE",)
INPUTS = ("input",)  # operand roles; '?' marks an optional one


def prepare(op: Op, graph: Graph) -> None:
    x, y = tensor_in(op, graph), tensor_out(op, graph)
    require_dtype(y, "int8", "output")
    if x.size != y.size:
        raise ValueError(f"quantize input {x.shape} and output {y.shape} differ in size")
    out_s, out_zp = per_tensor(y, "output")
    if x.dtype == "float32":
        op.attrs.update(mode="float", size=y.size, scale=out_s, zero_point=out_zp)
    elif x.dtype == "int8":
        in_s, in_zp = per_tensor(x, "input")
        multiplier, shift = quantize_multiplier(in_s / out_s)
        op.attrs.update(mode="requantize", size=y.size, in_zp=in_zp, out_zp=out_zp, multiplier=multiplier, shift=shift)
    else:
        raise ValueError(f"quantize from {x.dtype} is not supported (float32 or int8 input only)")


def round_half_away(q: np.ndarray) -> np.ndarray:
    """std::round on float32 values, in float64 so that |q| + 0.5 is exact."""
    q = q.astype(np.float64)
    return np.sign(q) * np.floor(np.abs(q) + 0.5)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "mode", prepare)
    a = op.attrs
    if a["mode"] == "float":
        x = np.asarray(inputs[0], dtype=np.float32).reshape(-1)
        q = x / np.float32(a["scale"])  # float32 division, as TFLM
        # Clamp before the integer conversion (saturates the same as clamping after it).
        y = np.clip(round_half_away(np.clip(q, -65536.0, 65536.0)) + a["zero_point"], -128, 127)
    else:
        x = np.asarray(inputs[0]).astype(np.int64).reshape(-1) - a["in_zp"]
        y = np.clip(multiply_by_quantized_multiplier(x, a["multiplier"], a["shift"]) + a["out_zp"], -128, 127)
    return [y.astype(np.int8).reshape(tensor_out(op, graph).shape)]


def macs(op: Op, graph: Graph) -> int:
    return tensor_out(op, graph).size


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "mode", prepare)
    a = op.attrs
    x, y = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    if a["mode"] == "float":
        params = params_struct(ctx, "mf_quantize_params", dict(size=a["size"], scale=a["scale"], zero_point=a["zero_point"]))
        return f"mf_quantize(&{params}, {x}, {y});"
    fields = {k: a[k] for k in ("size", "in_zp", "out_zp", "multiplier", "shift")}
    params = params_struct(ctx, "mf_requantize_params", fields)
    return f"mf_requantize(&{params}, {x}, {y});"
