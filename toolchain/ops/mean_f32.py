"""Global average pool of a float32 ``(1,H,W,C)`` tensor into ``(1,C)`` (``firmware/kernels/mean_f32.c``).

For each channel the H*W positions are added in row-major order, one float32 addition at a
time starting from 0, and the sum is multiplied by ``float32(1 / (H*W))`` (attr ``inv_count``,
set by ``prepare``). The reference adds in the same order so the board matches it bit for bit.
The output may also be ``(1,1,1,C)`` (keepdims).
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import ensure_prepared, require_dtype, tensor_in, tensor_out
from ._cparams import params_struct

KIND = "mean_f32"
TFLITE = ()
INPUTS = ("input",)  # operand roles; '?' marks an optional one
BATCHED = True  # reference() takes a leading batch axis (reference.executor.run_graph_batch)


def prepare(op: Op, graph: Graph) -> None:
    x, y = tensor_in(op, graph), tensor_out(op, graph)
    require_dtype(x, "float32", "input")
    require_dtype(y, "float32", "output")
    if len(x.shape) != 4 or x.shape[0] != 1:
        raise ValueError(f"input {x.name!r} has shape {x.shape}; expected [1, H, W, C]")
    c = x.shape[3]
    if tuple(y.shape) not in ((1, c), (1, 1, 1, c)):
        raise ValueError(f"output {y.name!r} has shape {y.shape}; expected [1, {c}] or [1, 1, 1, {c}]")
    op.attrs["inv_count"] = np.float32(1.0 / (x.shape[1] * x.shape[2]))


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "inv_count", prepare)
    x_t, y_t = tensor_in(op, graph), tensor_out(op, graph)
    x = np.asarray(inputs[0], dtype=np.float32)
    rows = x.reshape(x.size // x_t.size, -1, x_t.shape[3])  # [N, pixels, C]: one sample or a batch
    total = np.zeros((rows.shape[0], x_t.shape[3]), dtype=np.float32)
    for i in range(rows.shape[1]):  # sequential float32 sum, the C loop's order
        total = (total + rows[:, i]).astype(np.float32)
    return [(total * np.float32(op.attrs["inv_count"])).astype(np.float32).reshape((-1,) + tuple(y_t.shape[1:]))]


def macs(op: Op, graph: Graph) -> int:
    return tensor_in(op, graph).size


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "inv_count", prepare)
    x = tensor_in(op, graph)
    params = params_struct(ctx, "mf_mean_f32_params", {
        "positions": x.shape[1] * x.shape[2], "channels": x.shape[3], "inv_count": op.attrs["inv_count"]})
    return f"mf_mean_f32(&{params}, {ctx.tensor(op.inputs[0])}, {ctx.tensor(op.outputs[0])});"
