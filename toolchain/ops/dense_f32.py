"""A float32 dense layer (``firmware/kernels/dense_f32.c``): ``y = b + x W``, the classifier an
RNN applies after every step.

Inputs ``x`` [1, n], ``w`` [n, m] (Keras' kernel layout), ``b`` [m]; output ``y`` [1, m]. The
reference starts from the bias and adds x's rows in order in float32, as the C loop does, so
the board matches it bit for bit.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import require_dtype, tensor_in, tensor_out
from ._cparams import params_struct
from ._recurrent import vec_mat

KIND = "dense_f32"
TFLITE = ()
INPUTS = ("x", "w", "b")  # operand roles; '?' marks an optional one


def prepare(op: Op, graph: Graph) -> None:
    x, w, b, y = tensor_in(op, graph, 0), tensor_in(op, graph, 1), tensor_in(op, graph, 2), tensor_out(op, graph)
    for t, role in ((x, "x"), (w, "w"), (b, "b"), (y, "output")):
        require_dtype(t, "float32", role)
    if not (w.is_const and b.is_const):
        raise ValueError("dense_f32: w and b must be constants")
    if tuple(w.shape) != (x.size, y.size) or b.size != y.size:
        raise ValueError(f"dense_f32: w {w.shape}, b {b.shape} do not map {x.size} inputs to {y.size} outputs")


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    x, w, b = (np.asarray(a, np.float32) for a in inputs)
    y = vec_mat(x.reshape(-1), w, b.reshape(-1))
    return [y.reshape(tensor_out(op, graph).shape)]


def macs(op: Op, graph: Graph) -> int:
    return tensor_in(op, graph, 1).size


def emit(op: Op, graph: Graph, ctx) -> str:
    return emit_dense(op, graph, ctx, "mf_dense_f32")


def emit_dense(op: Op, graph: Graph, ctx, function: str) -> str:
    """``function(&params, x, w, b, y)`` with the {inputs, outputs} params (float and fixed point)."""
    w = tensor_in(op, graph, 1)
    params = params_struct(ctx, f"{function}_params", {"inputs": w.shape[0], "outputs": w.shape[1]})
    x, wt, b = (ctx.tensor(n) for n in op.inputs)
    return f"{function}(&{params}, {x}, {wt}, {b}, {ctx.tensor(op.outputs[0])});"
