"""One LSTM step in float32 (``firmware/kernels/lstm_f32.c``), as Keras' LSTMCell.

Inputs ``x`` [1, d], ``h`` [1, H], ``c`` [1, H], ``kernel`` [d, 4H], ``recurrent`` [H, 4H],
``bias`` [4H] (gates i, f, c, o); outputs ``h'``, ``c'`` (the state tensors themselves when
the step updates them in place). The reference sums in the C kernel's order (bias, then x's
rows, then h's), so the gate pre-activations are bit-exact; sigmoid/tanh agree to ``TOLERANCE``.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import ensure_prepared, tensor_in
from ._recurrent import gated_emit, gated_macs, require_float_state, sigmoid, tanh, vec_mat

KIND = "lstm_f32"
TFLITE = ()
INPUTS = ("x", "h", "c", "kernel", "recurrent", "bias")  # operand roles; '?' marks an optional one
OUTPUTS = ("h", "c")
TOLERANCE = 2e-6


def prepare(op: Op, graph: Graph) -> None:
    if len(op.inputs) != 6 or len(op.outputs) != 2:
        raise ValueError("lstm_f32 takes x, h, c, kernel, recurrent, bias -> h, c")
    d, hidden = tensor_in(op, graph, 0).size, tensor_in(op, graph, 1).size
    require_float_state(op, graph, ["x", "h", "c", "kernel", "recurrent", "bias"], [(1, 0), (2, 1)], hidden)
    for i, shape in ((3, (d, 4 * hidden)), (4, (hidden, 4 * hidden)), (5, (4 * hidden,))):
        t = tensor_in(op, graph, i)
        if not t.is_const or tuple(t.shape) != shape:
            raise ValueError(f"lstm_f32: {t.name!r} must be a constant of shape {shape}, got {t.shape}")
    op.attrs["dims"] = (d, hidden)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "dims", prepare)
    x, h, c, k, r, b = [np.asarray(a, np.float32) for a in inputs]
    n = op.attrs["dims"][1]
    g = vec_mat(h.reshape(-1), r, vec_mat(x.reshape(-1), k, b))
    c_new = (sigmoid(g[n:2 * n]) * c.reshape(-1) + sigmoid(g[:n]) * tanh(g[2 * n:3 * n])).astype(np.float32)
    h_new = (sigmoid(g[3 * n:]) * tanh(c_new)).astype(np.float32)
    return [h_new.reshape(1, n), c_new.reshape(1, n)]


def macs(op: Op, graph: Graph) -> int:
    return gated_macs(op, graph)


def scratch_bytes(op: Op, graph: Graph) -> int:
    return 4 * 4 * tensor_in(op, graph, 1).size


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "dims", prepare)
    return gated_emit(op, ctx, "mf_lstm_f32")
