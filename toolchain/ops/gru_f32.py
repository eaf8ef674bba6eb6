"""One GRU step in float32 (``firmware/kernels/gru_f32.c``), as Keras' GRUCell with
``reset_after=False`` (what mcuforge.train.rnn builds).

Inputs ``x`` [1, d], ``h`` [1, H], ``kernel`` [d, 3H], ``recurrent`` [H, 3H], ``bias`` [3H]
(gates z, r, h); output ``h'`` (the state tensor itself when updated in place). The reference
sums in the C kernel's order, so pre-activations are bit-exact; sigmoid/tanh agree to ``TOLERANCE``.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import ensure_prepared, tensor_in
from ._recurrent import gated_emit, gated_macs, ONE, require_float_state, sigmoid, tanh, vec_mat

KIND = "gru_f32"
TFLITE = ()
INPUTS = ("x", "h", "kernel", "recurrent", "bias")  # operand roles; '?' marks an optional one
TOLERANCE = 2e-6


def prepare(op: Op, graph: Graph) -> None:
    if len(op.inputs) != 5 or len(op.outputs) != 1:
        raise ValueError("gru_f32 takes x, h, kernel, recurrent, bias -> h")
    d, hidden = tensor_in(op, graph, 0).size, tensor_in(op, graph, 1).size
    require_float_state(op, graph, ["x", "h", "kernel", "recurrent", "bias"], [(1, 0)], hidden)
    for i, shape in ((2, (d, 3 * hidden)), (3, (hidden, 3 * hidden)), (4, (3 * hidden,))):
        t = tensor_in(op, graph, i)
        if not t.is_const or tuple(t.shape) != shape:
            raise ValueError(f"gru_f32: {t.name!r} must be a constant of shape {shape}, got {t.shape}")
    op.attrs["dims"] = (d, hidden)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "dims", prepare)
    x, h, k, r, b = [np.asarray(a, np.float32) for a in inputs]
    n = op.attrs["dims"][1]
    h = h.reshape(-1)
    g = vec_mat(x.reshape(-1), k, b)
    g[:2 * n] = vec_mat(h, r[:, :2 * n], g[:2 * n])
    z = sigmoid(g[:n])
    rh = (sigmoid(g[n:2 * n]) * h).astype(np.float32)
    cand = vec_mat(rh, r[:, 2 * n:], g[2 * n:])
    out = (z * h + (ONE - z) * tanh(cand)).astype(np.float32)
    return [out.reshape(1, n)]


def macs(op: Op, graph: Graph) -> int:
    return gated_macs(op, graph)


def scratch_bytes(op: Op, graph: Graph) -> int:
    return 4 * 4 * tensor_in(op, graph, 1).size


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "dims", prepare)
    return gated_emit(op, ctx, "mf_gru_f32")
