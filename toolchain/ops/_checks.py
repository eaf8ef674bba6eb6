"""Checks shared by the pooling/mean/add/softmax/quantize op modules: types, quantization reads.

Private (``_``-prefixed), so the op registry does not load it as an op.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Tensor


def tensor_in(op, graph: Graph, i: int = 0) -> Tensor:
    return graph.tensor(op.inputs[i])


def tensor_out(op, graph: Graph, i: int = 0) -> Tensor:
    return graph.tensor(op.outputs[i])


def require_dtype(t: Tensor, dtype: str, role: str) -> None:
    if t.dtype != dtype:
        raise ValueError(f"{role} tensor {t.name!r} is {t.dtype}; this kernel needs {dtype}")


def per_tensor(t: Tensor, role: str) -> tuple[float, int]:
    """(scale, zero point) of a per-tensor quantized tensor; scale as the float32 TFLite stores."""
    if t.quant is None:
        raise ValueError(f"{role} tensor {t.name!r} has no quantization parameters")
    if t.quant.scale.size != 1:
        raise ValueError(f"{role} tensor {t.name!r} is per-channel quantized; this op needs per-tensor")
    scale = float(np.float32(t.quant.s))
    if not scale > 0.0:
        raise ValueError(f"{role} tensor {t.name!r} has non-positive scale {scale}")
    return scale, t.quant.zp


def ensure_prepared(op, graph: Graph, key: str, prepare) -> None:
    """reference()/emit() work on graphs that were not lowered yet (tests, tools)."""
    if key not in op.attrs:
        prepare(op, graph)
