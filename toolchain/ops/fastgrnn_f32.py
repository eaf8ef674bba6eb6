"""One FastGRNN step in float32 (``firmware/kernels/fastgrnn_f32.c``): the cell of
``mcuforge.train.rnn_cells.FastGRNNCell`` on the device.

Inputs: ``x`` [1, d], ``h`` [1, H] (the hidden state: a *state* tensor when the output is the
same tensor, updated in place), ``w1`` [d, r or H], ``w2`` [r, H] or "" (full rank), ``u1``,
``u2`` likewise, ``b_z``, ``b_h`` [H]. Attrs: ``zeta``, ``nu`` — the trained scalars' sigmoids.

The reference adds the products row by row in float32, as the C loop does, so the
pre-activations are bit-exact; sigmoid and tanh go through numpy's exp/tanh where the board
uses newlib's expf/tanhf, so one step agrees to a few float32 ulps (``TOLERANCE``).
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import ensure_prepared, require_dtype, tensor_in, tensor_out
from ._cparams import params_struct
from ._recurrent import ONE, sigmoid, tanh, vec_mat

KIND = "fastgrnn_f32"
TFLITE = ()
INPUTS = ("x", "h", "w1", "w2?", "u1", "u2?", "b_z", "b_h")  # operand roles; '?' marks an optional one
TOLERANCE = 2e-6  # max |board - reference| of one step, per unit of state


def _dims(op: Op, graph: Graph) -> dict:
    x, h = tensor_in(op, graph, 0), tensor_in(op, graph, 1)
    return dict(d=x.size, hidden=h.size)


def prepare(op: Op, graph: Graph) -> None:
    if len(op.inputs) != 8 or len(op.outputs) != 1:
        raise ValueError(f"fastgrnn_f32 takes x, h, w1, w2, u1, u2, b_z, b_h -> h; got {len(op.inputs)} inputs")
    names = ["x", "h", "w1", "w2", "u1", "u2", "b_z", "b_h"]
    for n, name in zip(op.inputs, names):
        if n:
            require_dtype(graph.tensor(n), "float32", name)
        elif name not in ("w2", "u2"):
            raise ValueError(f"fastgrnn_f32: input {name} is required")
    y = tensor_out(op, graph)
    require_dtype(y, "float32", "output")
    d, hidden = _dims(op, graph)["d"], _dims(op, graph)["hidden"]
    if y.size != hidden:
        raise ValueError(f"fastgrnn_f32: output has {y.size} values, the state {hidden}")
    ranks = []
    for m1, m2, rows, what in ((op.inputs[2], op.inputs[3], d, "W"), (op.inputs[4], op.inputs[5], hidden, "U")):
        a = graph.tensor(m1)
        if not a.is_const:
            raise ValueError(f"fastgrnn_f32: {what} must be a constant")
        if not m2:
            if tuple(a.shape) != (rows, hidden):
                raise ValueError(f"fastgrnn_f32: {what} is {a.shape}, expected ({rows}, {hidden})")
            ranks.append(0)
            continue
        b = graph.tensor(m2)
        if len(a.shape) != 2 or a.shape[0] != rows or tuple(b.shape) != (a.shape[1], hidden):
            raise ValueError(f"fastgrnn_f32: low-rank {what} factors {a.shape} x {b.shape} do not make ({rows}, {hidden})")
        ranks.append(int(a.shape[1]))
    for n in op.inputs[6:]:
        if graph.tensor(n).size != hidden:
            raise ValueError(f"fastgrnn_f32: bias {n!r} needs {hidden} values")
    for key in ("zeta", "nu"):
        if key not in op.attrs:
            raise ValueError(f"fastgrnn_f32: attr {key} missing")
        op.attrs[key] = np.float32(op.attrs[key])
    op.attrs["rank_w"], op.attrs["rank_u"] = ranks


def _project(v, m1, m2, acc=None):
    if m2 is None:
        return vec_mat(v, m1, acc)
    return vec_mat(vec_mat(v, m1), m2, acc)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "rank_w", prepare)
    x, h, w1, w2, u1, u2, bz, bh = [None if a is None else np.asarray(a, np.float32) for a in inputs]
    x, h = x.reshape(-1), h.reshape(-1)
    pre = _project(x, w1, w2)
    pre = _project(h, u1, u2, pre)
    z = sigmoid(pre + bz.reshape(-1))
    c = tanh(pre + bh.reshape(-1))
    zeta, nu = np.float32(op.attrs["zeta"]), np.float32(op.attrs["nu"])
    out = ((zeta * (ONE - z) + nu) * c + z * h).astype(np.float32)
    return [out.reshape(tensor_out(op, graph).shape)]


def macs(op: Op, graph: Graph) -> int:
    return sum(graph.tensor(n).size for n in op.inputs[2:6] if n)


def scratch_bytes(op: Op, graph: Graph) -> int:
    ensure_prepared(op, graph, "rank_w", prepare)
    return 4 * (_dims(op, graph)["hidden"] + max(op.attrs["rank_w"], op.attrs["rank_u"]))


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "rank_w", prepare)
    dims = _dims(op, graph)
    params = params_struct(ctx, "mf_fastgrnn_f32_params", {
        "input_dim": dims["d"], "hidden": dims["hidden"], "rank_w": op.attrs["rank_w"],
        "rank_u": op.attrs["rank_u"], "zeta": op.attrs["zeta"], "nu": op.attrs["nu"]})
    args = [ctx.tensor(n) if n else "NULL" for n in op.inputs]
    return (f"mf_fastgrnn_f32(&{params}, {', '.join(args)}, {ctx.tensor(op.outputs[0])}, "
            f"(float *){ctx.tensor('__scratch__')});")
