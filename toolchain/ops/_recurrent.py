"""numpy twins of firmware/kernels/mf_matvec_f32.h, shared by the recurrent cells' references.

Private (``_``-prefixed), so the op registry does not load it as an op.
"""
from __future__ import annotations

import numpy as np

ONE = np.float32(1)


def vec_mat(v: np.ndarray, m: np.ndarray, acc: np.ndarray | None = None) -> np.ndarray:
    """acc + v m, rows added one at a time in float32 (the C loop's order)."""
    out = np.zeros(m.shape[1], np.float32) if acc is None else np.asarray(acc, np.float32).copy()
    for i in range(m.shape[0]):
        out = (out + np.float32(v[i]) * m[i]).astype(np.float32)
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (ONE / (ONE + np.exp(-np.asarray(x, np.float32)))).astype(np.float32)


def tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(np.asarray(x, np.float32)).astype(np.float32)


def require_float_state(op, graph, names: list[str], states: list[tuple[int, int]], hidden: int) -> None:
    """Every named input present and float32; each (input, output) state pair holds ``hidden`` values."""
    from ._checks import require_dtype

    for n, name in zip(op.inputs, names):
        if not n:
            raise ValueError(f"{op.kind}: input {name} is required")
        require_dtype(graph.tensor(n), "float32", name)
    for i, o in states:
        if graph.tensor(op.inputs[i]).size != hidden or graph.tensor(op.outputs[o]).size != hidden:
            raise ValueError(f"{op.kind}: state {names[i]!r} and its output need {hidden} values")
        require_dtype(graph.tensor(op.outputs[o]), "float32", "output")


def gated_macs(op, graph) -> int:
    """x, h[, c], kernel, recurrent, bias: the two matrices' sizes."""
    return sum(graph.tensor(n).size for n in op.inputs[-3:-1])


def gated_emit(op, ctx, function: str) -> str:
    """``function(&params, <inputs>, <outputs>, scratch)`` with the {input_dim, hidden} params."""
    from ._cparams import params_struct

    d, hidden = op.attrs["dims"]
    params = params_struct(ctx, f"{function}_params", {"input_dim": d, "hidden": hidden})
    args = ", ".join(ctx.tensor(n) for n in op.inputs + op.outputs)
    return f"{function}(&{params}, {args}, (float *){ctx.tensor('__scratch__')});"
