"""One GRU step in fixed point (``firmware/kernels/gru_q.c``): the cell of ``gru_f32`` (Keras'
reset_after=False) for cores without an FPU (Cortex-M3, the AVR).

Inputs all int16: ``x`` [1, d] Q11, ``h`` [1, H] Q12 (the state), ``kernel`` [d, 3H],
``recurrent_zr`` [H, 2H] and ``recurrent_h`` [H, H] (the float recurrent matrix's z, r columns
and its h columns, one scale) with their fractional bits in attr ``frac`` (kernel, recurrent),
``bias`` [3H] Q12, ``tanh`` the Q14 table; output ``h'`` Q12. Formats and rounding:
``_fixed_rnn``; the reference computes the same integers as the C (bit-exact).
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import ensure_prepared, tensor_in
from ._fixed_rnn import emit_gated, prepare_gated, rshift, sat16, sigmoid_q, tanh_q, vec_mat_q

KIND = "gru_q"
TFLITE = ()
INPUTS = ("x", "h", "kernel", "recurrent_zr", "recurrent_h", "bias", "tanh")  # operand roles; '?' marks an optional one


def prepare(op: Op, graph: Graph) -> None:
    d, n = tensor_in(op, graph, 0).size, tensor_in(op, graph, 1).size
    prepare_gated(op, graph, KIND, INPUTS, {2: (d, 3 * n), 3: (n, 2 * n), 4: (n, n), 5: (3 * n,)}, 1)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "shifts", prepare)
    x, h, k, r_zr, r_h, b, table = (np.asarray(a) for a in inputs)
    n, (sx, sh) = op.attrs["dims"][1], op.attrs["shifts"]
    h = h.reshape(-1).astype(np.int64)
    g = b.astype(np.int64) + rshift(vec_mat_q(x.reshape(-1), k), sx)
    zr = g[:2 * n] + rshift(vec_mat_q(h, r_zr), sh)
    z, r = sigmoid_q(zr[:n], table), sigmoid_q(zr[n:], table)
    rh = sat16(rshift(r * h, 14))
    cand = tanh_q(g[2 * n:] + rshift(vec_mat_q(rh, r_h), sh), table)
    out = sat16(rshift(z * h, 14) + rshift(((1 << 14) - z) * cand, 16))
    return [out.astype(np.int16).reshape(1, n)]


def macs(op: Op, graph: Graph) -> int:
    return sum(graph.tensor(n).size for n in op.inputs[2:5])


def scratch_bytes(op: Op, graph: Graph) -> int:
    n = tensor_in(op, graph, 1).size
    return 4 * 6 * n + 2 * n


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "shifts", prepare)
    return emit_gated(op, ctx, "mf_gru_q")
