"""One FastGRNN step in fixed point (``firmware/kernels/fastgrnn_q.c``): the cell of
``fastgrnn_f32`` for cores without an FPU (Cortex-M3, the AVR).

Inputs as fastgrnn_f32's, all int16: ``x`` [1, d] Q11, ``h`` [1, H] Q12 (the state), ``w1``,
``w2`` (or ""), ``u1``, ``u2`` (or "") with their fractional bits in attrs ``frac`` (one per
matrix input, "" ones 0), ``b_z``, ``b_h`` Q12, and ``tanh`` the Q14 table
(``_fixed_rnn.tanh_table``). Attrs ``zeta``, ``nu``: Q14. Formats and rounding:
``_fixed_rnn``; the reference computes the same integers as the C (bit-exact).
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import ensure_prepared, require_dtype, tensor_in, tensor_out
from ._cparams import params_struct
from ._fixed_rnn import FRAME_FRAC, GATE_FRAC, STATE_FRAC, TANH_ENTRIES, rshift, sat16, sigmoid_q, tanh_q, vec_mat_q

KIND = "fastgrnn_q"
TFLITE = ()
INPUTS = ("x", "h", "w1", "w2?", "u1", "u2?", "b_z", "b_h", "tanh")  # operand roles; '?' marks an optional one


def _shifts(in_frac: int, f1: int, f2: int | None) -> tuple[int, int]:
    """Accumulator shifts of one projection: to Q11 (low rank) then Q12, or straight to Q12."""
    if f2 is None:
        return in_frac + f1 - STATE_FRAC, 0
    return in_frac + f1 - FRAME_FRAC, FRAME_FRAC + f2 - STATE_FRAC


def prepare(op: Op, graph: Graph) -> None:
    if len(op.inputs) != 9 or len(op.outputs) != 1:
        raise ValueError("fastgrnn_q takes x, h, w1, w2, u1, u2, b_z, b_h, tanh -> h")
    for n, role in zip(op.inputs, INPUTS):
        if n:
            require_dtype(graph.tensor(n), "int16", role.rstrip("?"))
    require_dtype(tensor_out(op, graph), "int16", "output")
    d, hidden = tensor_in(op, graph, 0).size, tensor_in(op, graph, 1).size
    if tensor_in(op, graph, 8).size != TANH_ENTRIES:
        raise ValueError(f"fastgrnn_q: the tanh table needs {TANH_ENTRIES} entries")
    frac = op.attrs["frac"]
    ranks, shifts = [], []
    for k, (rows, in_frac) in enumerate(((d, FRAME_FRAC), (hidden, STATE_FRAC))):
        m1, m2 = op.inputs[2 + 2 * k], op.inputs[3 + 2 * k]
        a = graph.tensor(m1)
        ranks.append(int(a.shape[1]) if m2 else 0)
        want = (rows, ranks[-1] or hidden)
        if tuple(a.shape) != want or (m2 and tuple(graph.tensor(m2).shape) != (ranks[-1], hidden)):
            raise ValueError(f"fastgrnn_q: matrix {m1!r} {a.shape} does not fit ({rows} -> {hidden})")
        s = _shifts(in_frac, frac[2 + 2 * k], frac[3 + 2 * k] if m2 else None)
        if min(s) < 0 or s[0] < 1:
            raise ValueError(f"fastgrnn_q: weights of {m1!r} too large for the fixed-point format")
        shifts += s
    op.attrs["rank_w"], op.attrs["rank_u"] = ranks
    op.attrs["shifts"] = tuple(shifts)
    op.attrs["zeta"], op.attrs["nu"] = int(op.attrs["zeta"]), int(op.attrs["nu"])


def _project(v, m1, m2, s1, s2):
    acc = vec_mat_q(v, m1)
    if m2 is None:
        return rshift(acc, s1)
    return rshift(vec_mat_q(sat16(rshift(acc, s1)), m2), s2)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "shifts", prepare)
    x, h, w1, w2, u1, u2, bz, bh, table = inputs
    x, h = np.asarray(x).reshape(-1), np.asarray(h).reshape(-1).astype(np.int64)
    sw1, sw2, su1, su2 = op.attrs["shifts"]
    pre = _project(x, w1, w2, sw1, sw2) + _project(h, u1, u2, su1, su2)
    z = sigmoid_q(pre + np.asarray(bz, np.int64), table)
    c = tanh_q(pre + np.asarray(bh, np.int64), table)
    coef = rshift(op.attrs["zeta"] * ((1 << GATE_FRAC) - z), GATE_FRAC) + op.attrs["nu"]
    out = sat16(rshift(coef * c, 2 * GATE_FRAC - STATE_FRAC) + rshift(z * h, GATE_FRAC)).astype(np.int16)
    return [out.reshape(tensor_out(op, graph).shape)]


def macs(op: Op, graph: Graph) -> int:
    return sum(graph.tensor(n).size for n in op.inputs[2:6] if n)


def scratch_bytes(op: Op, graph: Graph) -> int:
    ensure_prepared(op, graph, "shifts", prepare)
    hidden, rank = tensor_in(op, graph, 1).size, max(op.attrs["rank_w"], op.attrs["rank_u"])
    return 4 * (hidden + max(hidden, rank) + rank)


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "shifts", prepare)
    sw1, sw2, su1, su2 = op.attrs["shifts"]
    params = params_struct(ctx, "mf_fastgrnn_q_params", {
        "input_dim": tensor_in(op, graph, 0).size, "hidden": tensor_in(op, graph, 1).size,
        "rank_w": op.attrs["rank_w"], "rank_u": op.attrs["rank_u"], "shift_w1": sw1, "shift_w2": sw2,
        "shift_u1": su1, "shift_u2": su2, "zeta": op.attrs["zeta"], "nu": op.attrs["nu"]})
    args = [ctx.tensor(n) if n else "NULL" for n in op.inputs]
    return (f"mf_fastgrnn_q(&{params}, {', '.join(args)}, {ctx.tensor(op.outputs[0])}, "
            f"(int32_t *){ctx.tensor('__scratch__')});")
