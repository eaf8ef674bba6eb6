"""Backward of the BNN's last conv (a 1x1 stride-1 ``bconv2d_int8w``) through its global average
pool: a trained slice of its output channels takes one step, in place, from the float32 gradient
of the embedding (``firmware/kernels/bconv2d_int8w_update.c``; :mod:`mcuforge.learning.last_conv`
says why each choice).

Inputs: ``[grad_embedding (1,O) float32 (dL/d embedding), output (1,OH,OW,O) float32 (the
forward's ReLU output), input (1,OH,OW,ceil(C/32)) uint32 (its packed +-1 input), filter (n,1,1,C)
int8 trainable, residual (n,1,1,C) int16 trainable, offset (n,) float32 trainable, scale (O,)
float32 const (the folded BN scale a_c)]``; outputs: the filter, residual and offset. Row j of
the slice is output channel ``channels[j]``.

For each j, c = channels[j]: gp = float32(g[c] * inv_count) (the pool's gradient at every
position, where the ReLU passes: y > 0), q = int8 of gp / grad_scale (float32 multiply by
``inv_grad_scale``, + 0.5, floor, saturated), A[k] = sign(a_c) * q * sum over active positions
of x[p, k] (exact integers), the master step w + r/2^16 -= A * m[j] (QAS, m = lr * grad_scale /
|a_c|; :func:`mcuforge.ops._train.master_step`), and offset[j] -= float32(lr_b * float32(gp *
active)). Float steps are separate float32 roundings, never fused.

Attrs (neutral): ``channels`` (n layer channels, sorted), ``learning_rate`` (weights),
``offset_learning_rate``, ``grad_scale``. Added by :func:`prepare`: ``inv_count``,
``inv_grad_scale``, ``step_multiplier``/``step_shift`` (per slice row), ``positions``.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _train
from ._checks import require_dtype, tensor_in
from ._cparams import params_struct
from .bconv2d import check_packed, signs

KIND = "bconv2d_int8w_update"
TFLITE = ()
INPUTS = ("grad_embedding", "output", "input", "filter", "residual", "offset", "scale")
OUTPUTS = ("filter", "residual", "offset")
F32 = np.float32


def prepare(op: Op, graph: Graph) -> None:
    g, y, x = (tensor_in(op, graph, i) for i in range(3))
    w = _train.trainable_in_place(op, graph, op.inputs[3], "int8", "filter")
    _train.check_residual(op, graph, w)
    b = _train.trainable_in_place(op, graph, op.inputs[5], "float32", "offset", output=2)
    s = tensor_in(op, graph, 6)
    for t, role in ((g, "grad_embedding"), (y, "output"), (s, "scale")):
        require_dtype(t, "float32", role)
    if len(y.shape) != 4 or y.shape[0] != 1:
        raise ValueError(f"output {y.name!r} has shape {y.shape}; expected [1, OH, OW, O]")
    out_c, positions = y.shape[3], y.shape[1] * y.shape[2]
    if len(w.shape) != 4 or tuple(w.shape[1:3]) != (1, 1):
        raise ValueError(f"filter {w.name!r} has shape {w.shape}; the update supports a 1x1 conv [n, 1, 1, C]")
    n, in_c = w.shape[0], w.shape[3]
    check_packed(x, in_c, "input")
    if tuple(x.shape[1:3]) != tuple(y.shape[1:3]):
        raise ValueError(f"input {x.shape} and output {y.shape} differ in size: the update needs stride 1")
    if g.size != out_c or s.size != out_c or not s.is_const:
        raise ValueError(f"grad_embedding and the constant scale need {out_c} values (got {g.size}, {s.size})")
    chans = sorted({int(c) for c in op.attrs.get("channels", ())})
    if len(chans) != n or chans[0] < 0 or chans[-1] >= out_c:
        raise ValueError(f"channels {op.attrs.get('channels')} must list the filter slice's {n} rows "
                         f"(distinct, in 0..{out_c - 1})")
    if b.shape != (n,):
        raise ValueError(f"offset {b.name!r} has shape {b.shape}; expected ({n},)")
    scale = s.data.astype(np.float64)[chans]
    if np.any(scale == 0):
        raise ValueError("a trained channel's folded BN scale is 0: a constant channel has no weight gradient")
    gs = float(op.attrs.get("grad_scale", 0.0))
    if not gs > 0:
        raise ValueError(f"grad_scale must be > 0, got {op.attrs.get('grad_scale')}")
    lr_b = float(op.attrs.get("offset_learning_rate", 0.0))
    if not lr_b >= 0:
        raise ValueError(f"offset_learning_rate must be >= 0, got {lr_b}")
    a = op.attrs
    a.update(channels=chans, positions=int(positions), inv_count=F32(1.0 / positions),
             inv_grad_scale=F32(F32(1.0) / F32(gs)), grad_scale=float(F32(gs)), offset_learning_rate=float(F32(lr_b)))
    _train.set_step_multipliers(op, _train.learning_rate(op) * float(F32(gs)) / np.abs(scale), 128 * positions,
                                _train.RESIDUAL_BITS)


def quantized_gradient(op: Op, grad_embedding) -> tuple[np.ndarray, np.ndarray]:
    """(gp float32, q int64) of the slice's channels: the pool's gradient and its int8 value."""
    a = op.attrs
    gp = (np.asarray(grad_embedding, F32).reshape(-1)[a["channels"]] * a["inv_count"]).astype(F32)
    v = np.floor((gp * a["inv_grad_scale"]).astype(F32) + F32(0.5))
    return gp, np.clip(v, -128, 127).astype(np.int64)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    g, y, x, w, r, b, s = inputs
    a = op.attrs
    chans, in_c = a["channels"], w.shape[3]
    gp, q = quantized_gradient(op, g)
    xs = signs(np.asarray(x, np.uint32).reshape(a["positions"], -1), in_c)         # [P, C] +-1
    active = np.asarray(y, F32).reshape(a["positions"], -1)[:, chans] > 0          # [P, n]
    sign = np.where(np.asarray(s, F32).reshape(-1)[chans] < 0, -1, 1)
    sums = (q * sign)[:, None] * (active.T.astype(np.int64) @ xs)                  # [n, C] exact
    rows = Op(KIND, [], [], {"channels": list(range(len(chans))), "step_multiplier": a["step_multiplier"],
                             "step_shift": a["step_shift"]})
    w2, r2 = _train.master_step(w.reshape(len(chans), -1), r.reshape(len(chans), -1), sums, rows)
    n_active = active.sum(axis=0).astype(F32)
    step = (F32(a["offset_learning_rate"]) * (gp * n_active).astype(F32)).astype(F32)
    return [w2.reshape(w.shape), r2.reshape(r.shape), (np.asarray(b, F32) - step).astype(F32)]


def macs(op: Op, graph: Graph) -> int:
    w = graph.tensor(op.inputs[3])
    return op.attrs["positions"] * int(w.size)


def emit(op: Op, graph: Graph, ctx) -> str:
    a = op.attrs
    w = graph.tensor(op.inputs[3])
    params = params_struct(ctx, "mf_bconv2d_int8w_update_params", {
        "positions": a["positions"], "out_c": graph.tensor(op.inputs[1]).shape[3], "in_c": w.shape[3],
        "n_channels": len(a["channels"]), "inv_count": F32(a["inv_count"]),
        "inv_grad_scale": F32(a["inv_grad_scale"]), "offset_lr": F32(a["offset_learning_rate"])})
    mult, shift, chans = _train.emit_step_arrays(ctx, op)
    args = ", ".join(ctx.tensor(n) for n in op.inputs)
    return f"mf_bconv2d_int8w_update(&{params}, {args}, {mult}, {shift}, {chans});"
