"""One LSTM step in fixed point (``firmware/kernels/lstm_q.c``): the cell of ``lstm_f32`` for
cores without an FPU (Cortex-M3, the AVR).

Inputs all int16: ``x`` [1, d] Q11, ``h`` [1, H] and ``c`` [1, H] Q12 (the states), ``kernel``
[d, 4H] and ``recurrent`` [H, 4H] with their fractional bits in attr ``frac`` (kernel,
recurrent), ``bias`` [4H] Q12, ``tanh`` the Q14 table; outputs ``h'``, ``c'`` Q12. Formats and
rounding: ``_fixed_rnn``; the reference computes the same integers as the C (bit-exact).
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import ensure_prepared, tensor_in
from ._fixed_rnn import emit_gated, prepare_gated, rshift, sat16, sigmoid_q, tanh_q, vec_mat_q

KIND = "lstm_q"
TFLITE = ()
INPUTS = ("x", "h", "c", "kernel", "recurrent", "bias", "tanh")  # operand roles; '?' marks an optional one
OUTPUTS = ("h", "c")


def prepare(op: Op, graph: Graph) -> None:
    d, n = tensor_in(op, graph, 0).size, tensor_in(op, graph, 1).size
    prepare_gated(op, graph, KIND, INPUTS, {3: (d, 4 * n), 4: (n, 4 * n), 5: (4 * n,)}, 2)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "shifts", prepare)
    x, h, c, k, r, b, table = (np.asarray(a) for a in inputs)
    n, (sx, sh) = op.attrs["dims"][1], op.attrs["shifts"]
    h, c = h.reshape(-1).astype(np.int64), c.reshape(-1).astype(np.int64)
    g = b.astype(np.int64) + rshift(vec_mat_q(x.reshape(-1), k), sx) + rshift(vec_mat_q(h, r), sh)
    i, f = sigmoid_q(g[:n], table), sigmoid_q(g[n:2 * n], table)
    cand, o = tanh_q(g[2 * n:3 * n], table), sigmoid_q(g[3 * n:], table)
    c_new = sat16(rshift(f * c, 14) + rshift(i * cand, 16))
    h_new = sat16(rshift(o * tanh_q(c_new, table), 16))
    return [h_new.astype(np.int16).reshape(1, n), c_new.astype(np.int16).reshape(1, n)]


def macs(op: Op, graph: Graph) -> int:
    return sum(graph.tensor(n).size for n in op.inputs[3:5])


def scratch_bytes(op: Op, graph: Graph) -> int:
    return 4 * 8 * tensor_in(op, graph, 1).size


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "shifts", prepare)
    return emit_gated(op, ctx, "mf_lstm_q")
