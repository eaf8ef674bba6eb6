"""Backward of an int8 global average pooling (MEAN over H and W of 1xHxWxC): the gradient w.r.t.
its input, ``dx[h, w, c] = dy[c] / (H*W)`` where the mean's output is inside the int8 range.

Inputs: ``[grad_output (1, C) or (1,1,1,C) int8, output (the forward mean's output)]``; output
``grad_input`` (1,H,W,C) int8 whose scale must be the output gradient's divided by H*W: then the
1/(H*W) is exact in the scale and the kernel only broadcasts the masked gradient (no rounding).
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _train
from .conv2d import c_params

KIND = "mean_grad_input"
INPUTS = ("grad_output", "output")


def prepare(op: Op, graph: Graph) -> None:
    g, y = (graph.tensor(n) for n in op.inputs)
    gx = graph.tensor(op.outputs[0])
    _train.check_same_shape(g, y)
    if len(gx.shape) != 4 or gx.shape[0] != 1 or g.size != gx.shape[3]:
        raise ValueError(f"a global average pooling gradient goes from {g.shape} to (1, H, W, {g.size}), not {gx.shape}")
    count = gx.shape[1] * gx.shape[2]
    want = float(np.float32(_train.grad_scale(g, "gradient") / count))
    if not np.isclose(_train.grad_scale(gx, "input gradient"), want, rtol=1e-6):
        raise ValueError(f"the input gradient's scale must be the output gradient's / {count} ({want:g})")
    _train.set_clamp(op, y)  # a MEAN has no fused activation: its int8 saturation
    op.attrs.update(positions=int(count), channels=int(g.size))


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    g, y = inputs
    gm = _train.masked(g.reshape(1, -1), y.reshape(1, -1), op)
    out = np.broadcast_to(gm, (op.attrs["positions"], op.attrs["channels"]))
    return [out.astype(np.int8).reshape(graph.tensor(op.outputs[0]).shape)]


def macs(op: Op, graph: Graph) -> int:
    return op.attrs["positions"] * op.attrs["channels"]


def emit(op: Op, graph: Graph, ctx) -> str:
    a = op.attrs
    params = c_params(ctx, "mf_mean_grad_input_params", {
        "positions": a["positions"], "channels": a["channels"], "act_min": a["act_min"], "act_max": a["act_max"]})
    g, y = (ctx.tensor(n) for n in op.inputs)
    return f"mf_mean_grad_input_s8(&{params}, {g}, {y}, {ctx.tensor(op.outputs[0])});"
