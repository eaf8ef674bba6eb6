"""The forward clamp of a layer as one bit per output element, for the backward (TinyTL's point,
Cai et al. 2020: a bias gradient needs where the activation passed, not the activation).

Every backward op reads a layer's int8 output ``y`` only through the clamp test
``act_min < y < act_max`` (:func:`mcuforge.ops._train.masked`). Where nothing else in the
backward needs ``y`` itself (no weight update of the next layer reads it as its input), the
training graph keeps these bits instead of ``y`` from the forward to the layer's backward: 8x
fewer bytes held across the rest of the forward and the backward. :mod:`activation_unmask`
turns them back into an int8 tensor the backward ops read as they would ``y``.

Input: ``[output]`` (the layer's int8 output); output: ``mask`` uint8 (ceil(N / 8),), bit i % 8
of byte i / 8 set where element i (row-major) lies inside the clamp. ``activation``: the forward
layer's fused activation (with the output's quantization it gives the clamp).
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _train
from .conv2d import c_params

KIND = "activation_mask"
INPUTS = ("output",)


def mask_bytes(elements: int) -> int:
    return (int(elements) + 7) // 8


def unpacked(bits: np.ndarray, elements: int) -> np.ndarray:
    """The clamp bits back as booleans, one per element (row-major): True inside the clamp."""
    return np.unpackbits(np.asarray(bits, np.uint8).reshape(-1), bitorder="little")[:elements].astype(bool)


def prepare_bits(op: Op, y, bits) -> None:
    """The clamp of output ``y`` (``activation`` and its quantization) and the element count into
    ``op``'s attrs, ``bits`` checked to hold them (for the mask and the unmask alike)."""
    _train.set_clamp(op, y)
    if bits.dtype != "uint8" or bits.size != mask_bytes(y.size):
        raise ValueError(f"the clamp bits of {y.size} elements are {mask_bytes(y.size)} uint8 bytes, not "
                         f"{bits.size} {bits.dtype}")
    op.attrs["elements"] = int(y.size)


def prepare(op: Op, graph: Graph) -> None:
    prepare_bits(op, graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0]))


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    y = np.asarray(inputs[0]).reshape(-1)
    inside = (y > op.attrs["act_min"]) & (y < op.attrs["act_max"])
    return [np.packbits(inside, bitorder="little")]


def macs(op: Op, graph: Graph) -> int:
    return 0


def emit(op: Op, graph: Graph, ctx) -> str:
    a = op.attrs
    params = c_params(ctx, "mf_activation_mask_params",
                      {"elements": a["elements"], "act_min": a["act_min"], "act_max": a["act_max"]})
    return f"mf_activation_mask_s8(&{params}, {ctx.tensor(op.inputs[0])}, {ctx.tensor(op.outputs[0])});"
