"""Fixed-point pieces shared by the integer RNN kernels (``firmware/kernels/fastgrnn_q.c``,
``dense_q.c``) and their numpy twins: Q formats, rounding shifts, the tanh table.

Formats (fractional bits): frames and low-rank intermediates Q11 (|x| < 16: the sequences are
standardized), pre-activations, biases and the hidden state Q12 (|h| < 8), gates and the tanh
table Q14; each weight matrix int16 with its own power-of-two scale (``weight_frac``).
Accumulation in int32, shifts round half up (``(v + 2^(s-1)) >> s``, arithmetic), results
saturate to int16. tanh is a 257-entry Q14 table over [-8, 8] (step 1/16) with linear
interpolation; sigmoid(x) = (1 + tanh(x/2)) / 2 from the same table (max error ~4e-4).

Private (``_``-prefixed), so the op registry does not load it as an op.
"""
from __future__ import annotations

import numpy as np

FRAME_FRAC = 11
STATE_FRAC = 12
GATE_FRAC = 14
WEIGHT_MAX = 8191  # |w_q| bound: an int16 x int16 product stays below 2^28, sums of a few hundred fit int32
CLASSIFIER_MAX = 2047  # the classifier's: its int32 logits keep headroom for their differences
TANH_STEP_SHIFT = 8  # Q12 input, step 1/16 = 2^8 units
TANH_ENTRIES = 257
I16 = (-32768, 32767)


def weight_frac(w: np.ndarray, limit: int = WEIGHT_MAX) -> int:
    """Fractional bits of an int16 weight matrix: the most with max|w_q| <= limit."""
    m = float(np.abs(w).max())
    if m == 0:
        return 14
    frac = int(np.floor(np.log2(limit / m)))
    if frac < 2:
        raise ValueError(f"weights up to {m:g} are too large for the int16 format (need < {WEIGHT_MAX / 4:g})")
    return min(frac, 15)


def quantize(x, frac: int, lo: int = I16[0], hi: int = I16[1], dtype=np.int16) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, np.float64) * 2.0 ** frac), lo, hi).astype(dtype)


def rshift(v, s: int) -> np.ndarray:
    """(v + 2^(s-1)) >> s in int64 (s >= 1), the C's rounding shift."""
    v = np.asarray(v, np.int64)
    return (v + (1 << (s - 1))) >> s if s > 0 else v << -s


def sat16(v) -> np.ndarray:
    return np.clip(np.asarray(v, np.int64), *I16)


def check_int32(v, what: str) -> np.ndarray:
    v = np.asarray(v, np.int64)
    if v.size and (v.max() > 2**31 - 1 or v.min() < -2**31):
        raise OverflowError(f"{what}: an int32 accumulator overflows (the C result is undefined)")
    return v


def vec_mat_q(v: np.ndarray, m: np.ndarray, acc=None) -> np.ndarray:
    """acc + v m in int32, as the C loop (every partial sum checked to stay in int32)."""
    out = np.zeros(m.shape[1], np.int64) if acc is None else np.asarray(acc, np.int64).copy()
    for i in range(m.shape[0]):
        out = check_int32(out + np.int64(v[i]) * m[i].astype(np.int64), "vector x matrix")
    return out


def tanh_table() -> np.ndarray:
    x = np.linspace(-8.0, 8.0, TANH_ENTRIES)
    return quantize(np.tanh(x), GATE_FRAC)


def tanh_q(x_q12, table: np.ndarray) -> np.ndarray:
    """tanh of Q12 values (int) -> Q14, table lookup with linear interpolation."""
    x = np.clip(np.asarray(x_q12, np.int64), -32768, 32767) + 32768
    i, f = x >> TANH_STEP_SHIFT, x & ((1 << TANH_STEP_SHIFT) - 1)
    t = table.astype(np.int64)
    return t[i] + (((t[i + 1] - t[i]) * f) >> TANH_STEP_SHIFT)


def sigmoid_q(x_q12, table: np.ndarray) -> np.ndarray:
    """sigmoid(x) = (1 + tanh(x / 2)) / 2: Q12 in, Q14 out."""
    return (tanh_q(np.asarray(x_q12, np.int64) >> 1, table) + (1 << GATE_FRAC)) >> 1


def prepare_gated(op, graph, kind: str, names: tuple[str, ...], shapes: dict[int, tuple], outputs: int) -> None:
    """The fixed-point LSTM's and GRU's checks: every operand int16 with the shape it needs
    (``shapes``: input index -> shape), the table, and the accumulator shifts to Q12 from the
    kernel's and the recurrent matrices' fractional bits (attr ``frac``: (kernel, recurrent))
    into attrs ``dims`` and ``shifts``."""
    if len(op.inputs) != len(names) or len(op.outputs) != outputs:
        raise ValueError(f"{kind} takes {', '.join(names)}")
    for n, role in zip(list(op.inputs) + list(op.outputs), list(names) + ["output"] * outputs):
        t = graph.tensor(n)
        if t.dtype != "int16":
            raise ValueError(f"{kind}: {role} must be int16, got {t.dtype}")
    for i, shape in shapes.items():
        t = graph.tensor(op.inputs[i])
        if not t.is_const or tuple(t.shape) != shape:
            raise ValueError(f"{kind}: {t.name!r} must be a constant of shape {shape}, got {t.shape}")
    if graph.tensor(op.inputs[-1]).size != TANH_ENTRIES:
        raise ValueError(f"{kind}: the tanh table needs {TANH_ENTRIES} entries")
    frac_k, frac_r = op.attrs["frac"]
    shifts = (FRAME_FRAC + frac_k - STATE_FRAC, frac_r)
    if min(shifts) < 1:
        raise ValueError(f"{kind}: weights too large for the fixed-point format")
    op.attrs["dims"] = (graph.tensor(op.inputs[0]).size, graph.tensor(op.inputs[1]).size)
    op.attrs["shifts"] = shifts


def emit_gated(op, ctx, function: str) -> str:
    """``function(&params, <inputs>, <outputs>, scratch)`` with {input_dim, hidden, shift_x, shift_h}."""
    from ._cparams import params_struct

    (d, hidden), (sx, sh) = op.attrs["dims"], op.attrs["shifts"]
    params = params_struct(ctx, f"{function}_params", {"input_dim": d, "hidden": hidden, "shift_x": sx, "shift_h": sh})
    args = ", ".join(ctx.tensor(n) for n in list(op.inputs) + list(op.outputs))
    return f"{function}(&{params}, {args}, (int32_t *){ctx.tensor('__scratch__')});"
