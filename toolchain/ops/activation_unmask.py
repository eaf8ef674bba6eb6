"""The int8 stand-in for a layer's output that the backward reads, from the bits of
:mod:`activation_mask`: ``act_min + 1`` where the bit is set (inside the clamp), ``act_min``
where it is not, so every backward op's clamp test gives what it gives on the real output.
The stand-in lives only while that layer's backward runs.

Input: ``[mask]`` uint8; output: an int8 tensor of the layer output's shape and quantization
(its clamp comes from ``activation`` and that quantization, as the mask's did).
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from .activation_mask import prepare_bits, unpacked
from .conv2d import c_params

KIND = "activation_unmask"
INPUTS = ("mask",)


def prepare(op: Op, graph: Graph) -> None:
    prepare_bits(op, graph.tensor(op.outputs[0]), graph.tensor(op.inputs[0]))


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    inside = unpacked(inputs[0], op.attrs["elements"])
    lo = op.attrs["act_min"]
    y = np.where(inside, lo + 1, lo).astype(np.int8)
    return [y.reshape(graph.tensor(op.outputs[0]).shape)]


def macs(op: Op, graph: Graph) -> int:
    return 0


def emit(op: Op, graph: Graph, ctx) -> str:
    a = op.attrs
    params = c_params(ctx, "mf_activation_unmask_params", {"elements": a["elements"], "act_min": a["act_min"]})
    return f"mf_activation_unmask_s8(&{params}, {ctx.tensor(op.inputs[0])}, {ctx.tensor(op.outputs[0])});"
