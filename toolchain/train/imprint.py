"""Class prototypes of the pretrained features, and weight imprinting: a few-shot task's new
classifier rows set from them before any training (Qi et al. 2018; ProtoNet's nearest mean as a
linear layer, the head TinyTrain fine-tunes from).

The features are the input of the model's last layer (:func:`feature_graph`), dequantized; a
class's prototype is the mean feature of its support samples (:func:`prototypes`, the one writer:
``none`` classifies with it, every training method starts from it). The nearest prototype in
Euclidean distance is the largest ``f.p_k - |p_k|^2 / 2``, a linear layer, and the same with
every vector less the mean prototype m (distances do not change; the score's part common to all
classes, which int8 logits would spend their range on, shrinks): :func:`imprinted` writes row k
of the last fully connected layer as ``alpha * q_k`` (q_k = p_k - m) and its bias as
``alpha * (c - q_k.m - |q_k|^2 / 2)``, so the int8 graph starts out as the prototype classifier. alpha and
c place the support samples' scores in the part ``SPAN`` of the logits' int8 range (the resolution
int8 logits have, with headroom either side for the query samples); each imprinted row gets its own
weight scale (per-channel weights) or, with one scale per tensor, alpha shrinks until every row fits
it. The other rows (the pretrained classes, not in the task) are switched off: weights 0 and the
bias at the bottom of the logits' range. Left on, they take the softmax's mass, and the int8
probabilities of the task's classes all round to the same -128 (ties: argmax picks class 0).
"""
from __future__ import annotations

import copy

import numpy as np

from .. import ops
from ..graph.backward import layers
from ..graph.ir import Graph

SPAN = (0.2, 0.95)  # the part of the logits' real range the support samples' scores take


class ImprintError(ValueError):
    """The model's last layer cannot take imprinted rows (the reason)."""


def feature_graph(graph: Graph) -> Graph:
    """The model up to its last layer: its output is that layer's input (the pretrained features)."""
    last = layers(graph)[-1]
    g = copy.deepcopy(graph)
    g.name = f"{graph.name}_features"
    g.ops = g.ops[:graph.ops.index(last)]
    if not g.ops:
        raise ImprintError("the model has one layer; there are no pretrained features before it")
    g.outputs = [last.inputs[0]]
    return g


def real_features(fg: Graph, value) -> np.ndarray:
    """The feature graph's int8 output, dequantized (float64, flat)."""
    t = fg.tensor(fg.outputs[0])
    return t.quant.s * (np.asarray(value, np.float64).reshape(-1) - t.quant.zp)


def host_features(fg: Graph, xs) -> list[np.ndarray]:
    """The features of model inputs ``xs`` on the host's numpy twin (bit-exact with the board's)."""
    from ..reference.executor import run_graph

    return [real_features(fg, run_graph(fg, [x])[0]) for x in xs]


def prototypes(features, labels, classes: int) -> np.ndarray:
    """(classes, D): the mean feature of each class's samples."""
    labels = np.asarray(labels)
    missing = [k for k in range(classes) if not np.any(labels == k)]
    if missing:
        raise ImprintError(f"class {missing[0]} has no support sample")
    return np.stack([np.mean([f for f, y in zip(features, labels) if y == k], axis=0) for k in range(classes)])


def imprinted(graph: Graph, protos: np.ndarray, features) -> Graph:
    """``graph`` whose last layer's rows 0..N-1 classify by the nearest of ``protos`` (N, D)
    (``features``: the support samples' features, which set alpha and c)."""
    fc = layers(graph)[-1]
    if fc.kind != "fully_connected" or len(fc.inputs) < 3 or not fc.inputs[2]:
        raise ImprintError("imprinting needs a last fully connected layer with a bias")
    g = copy.deepcopy(graph)
    g.source_hash = ""  # its own weights: hashed from its C
    fc = layers(g)[-1]
    x, w, b, y = (g.tensor(n) for n in (*fc.inputs[:3], fc.outputs[0]))
    protos = np.asarray(protos, np.float64)
    n, depth = protos.shape
    if tuple(w.shape) != (w.shape[0], depth) or n > w.shape[0]:
        raise ImprintError(f"{n} prototypes of {depth} features do not fit the last layer's weights {w.shape}")
    mean = protos.mean(axis=0)
    protos = protos - mean
    offset = protos @ mean + 0.5 * (protos ** 2).sum(axis=1)  # (N,): q_k.m + |q_k|^2 / 2
    scores = np.asarray(features, np.float64) @ protos.T - offset  # (samples, N)
    s_y = float(np.float32(y.quant.s))
    lo, hi = s_y * (-128 - y.quant.zp), s_y * (127 - y.quant.zp)
    spread = float(scores.max() - scores.min())
    alpha = (SPAN[1] - SPAN[0]) * (hi - lo) / spread if spread > 0 else 1.0
    s_x = float(np.float32(x.quant.s))
    scale = np.asarray(w.quant.scale, np.float32).reshape(-1).copy()
    rows = alpha * protos
    if not w.quant.per_channel:  # one scale for every row: alpha shrinks until the largest fits it
        alpha = min(alpha, 127 * float(scale[0]) / max(float(np.abs(protos).max()), 1e-30))
        rows = alpha * protos
    c = (lo + SPAN[1] * (hi - lo)) / alpha - float(scores.max())
    wq, bq = w.data.astype(np.int64).copy(), b.data.astype(np.int64).copy()
    bscale = np.broadcast_to(np.asarray(b.quant.scale, np.float32).reshape(-1), (w.shape[0],)).copy()
    for k in range(n):
        if w.quant.per_channel:
            top = float(np.abs(rows[k]).max())
            scale[k] = np.float32(top / 127) if top > 0 else scale[k]
        sw = float(scale[k if w.quant.per_channel else 0])
        wq[k] = np.clip(np.floor(rows[k] / sw + 0.5), -127, 127)
        bscale[k] = np.float32(s_x * sw)
        bq[k] = np.clip(np.floor(alpha * (c - float(offset[k])) / float(bscale[k]) + 0.5),
                        -2**31, 2**31 - 1)
    wq[n:] = 0
    bq[n:] = np.floor(lo / (s_x * scale[n:] if w.quant.per_channel else s_x * scale[0]))
    w.data = wq.astype(w.data.dtype).reshape(w.shape)
    b.data = bq.astype(b.data.dtype).reshape(b.shape)
    if w.quant.per_channel:
        w.quant.scale = scale
    if b.quant.scale.size == bscale.size:
        b.quant.scale = bscale
    ops.get(fc.kind).prepare(fc, g)  # the per-channel multipliers of the new scales
    return g
