"""A fixed-point dense layer (``firmware/kernels/dense_q.c``): ``y = b + x W`` in int32, with x
and W int16 and b, y int32 at the product's scale (attr ``frac``: y's fractional bits). The
fixed-point RNN's classifier; the reference computes the same integers as the C.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import require_dtype, tensor_in, tensor_out
from ._fixed_rnn import vec_mat_q
from .dense_f32 import emit_dense, macs  # noqa: F401  (macs: the same count)

KIND = "dense_q"
TFLITE = ()
INPUTS = ("x", "w", "b")  # operand roles; '?' marks an optional one


def prepare(op: Op, graph: Graph) -> None:
    x, w, b, y = tensor_in(op, graph, 0), tensor_in(op, graph, 1), tensor_in(op, graph, 2), tensor_out(op, graph)
    for t, role, dtype in ((x, "x", "int16"), (w, "w", "int16"), (b, "b", "int32"), (y, "output", "int32")):
        require_dtype(t, dtype, role)
    if not (w.is_const and b.is_const):
        raise ValueError("dense_q: w and b must be constants")
    if tuple(w.shape) != (x.size, y.size) or b.size != y.size:
        raise ValueError(f"dense_q: w {w.shape}, b {b.shape} do not map {x.size} inputs to {y.size} outputs")


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    x, w, b = (np.asarray(a) for a in inputs)
    y = vec_mat_q(x.reshape(-1), w, b.reshape(-1)).astype(np.int32)
    return [y.reshape(tensor_out(op, graph).shape)]


def emit(op: Op, graph: Graph, ctx) -> str:
    return emit_dense(op, graph, ctx, "mf_dense_q")
