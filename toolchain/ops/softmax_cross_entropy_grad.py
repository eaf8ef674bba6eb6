"""The gradient of the softmax cross-entropy loss w.r.t. the logits, from the int8 softmax output:
``dL/dlogit[b, k] = p[b, k] - [k == label[b]]`` (the start of every backward pass).

Inputs: ``[probabilities (B, K) int8 (an int8 softmax's output: scale 1/256, zero point -128),
label (B,) int32 (class index per row)]``; output: the logits' gradient (B, K) int8 at scale 1/128
(zero point 0), exact: ``g = (p + 129) >> 1 - 128 * [k == label]`` (p real rounded half up to a
multiple of 1/128), clamped to [-128, 127]. A label outside 0..K-1 adds no -1.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import per_tensor, require_dtype, tensor_in, tensor_out
from ._train import grad_scale
from .conv2d import c_params

KIND = "softmax_cross_entropy_grad"
INPUTS = ("probabilities", "label")
PROB_SCALE, PROB_ZP, GRAD_SCALE = 1 / 256, -128, 1 / 128


def prepare(op: Op, graph: Graph) -> None:
    p, label, g = tensor_in(op, graph), tensor_in(op, graph, 1), tensor_out(op, graph)
    require_dtype(p, "int8", "probabilities")
    require_dtype(label, "int32", "label")
    if per_tensor(p, "probabilities") != (PROB_SCALE, PROB_ZP):
        raise ValueError(f"probabilities {p.name!r} must be an int8 softmax output (scale 1/256, zero point -128)")
    if grad_scale(g, "logits gradient") != GRAD_SCALE:
        raise ValueError(f"the logits gradient {g.name!r} has scale 1/128")
    if len(p.shape) != 2 or tuple(g.shape) != tuple(p.shape) or label.size != p.shape[0]:
        raise ValueError(f"probabilities {p.shape}, label {label.shape} and gradient {g.shape} do not fit (B, K), (B,)")
    op.attrs.update(batches=int(p.shape[0]), classes=int(p.shape[1]))


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    p, label = inputs
    k = np.arange(op.attrs["classes"])
    g = ((p.astype(np.int64) + 129) >> 1) - 128 * (k[None, :] == label.reshape(-1, 1))
    return [np.clip(g, -128, 127).astype(np.int8)]


def macs(op: Op, graph: Graph) -> int:
    return op.attrs["batches"] * op.attrs["classes"]


def emit(op: Op, graph: Graph, ctx) -> str:
    params = c_params(ctx, "mf_softmax_cross_entropy_grad_params",
                      {"batches": op.attrs["batches"], "classes": op.attrs["classes"]})
    p, label = (ctx.tensor(n) for n in op.inputs)
    return f"mf_softmax_cross_entropy_grad_s8(&{params}, {p}, {label}, {ctx.tensor(op.outputs[0])});"
