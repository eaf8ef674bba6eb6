"""TinyTrain's Fisher potential of a layer's output channels (Kwon et al., ICML 2024), accumulated
over the support samples on the board: ``D_o = 1/(2N) sum_n (sum_d a_nd g_nd)^2``.

Inputs: ``[output (..., C) int8 (the layer's forward output a), grad_output (..., C) int8 (its loss
gradient g), sums (C,) int64 state]``; output: the same ``sums``, updated in place. Per sample and
channel c the integer inner product ``S[c] = sum_d (a_q[d, c] - zp_a) * g_q[d, c]`` (exact in 32
bits: :func:`prepare` refuses a layer with so many positions that it could wrap) is squared and
added, saturating at INT64_MAX, so the board's sums are exact integers and equal this twin's. The
real potential is ``(s_a * s_g)^2 * sums[c] / (2N)`` after N samples
(:func:`mcuforge.train.tinytrain.potentials_from_sums`).
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _train
from .conv2d import c_params

KIND = "fisher_potential"
INPUTS = ("output", "grad_output", "sums")
OUTPUTS = ("sums",)
INT64_MAX = np.iinfo(np.int64).max


def prepare(op: Op, graph: Graph) -> None:
    y, g = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    sums = graph.tensor(op.inputs[2])
    if y.dtype != "int8" or y.quant is None or y.quant.per_channel:
        raise ValueError(f"forward output {y.name!r} must be per-tensor quantized int8")
    _train.grad_scale(g, "gradient")
    _train.check_same_shape(g, y)
    channels = int(y.shape[-1]) if y.shape else 1
    if sums.storage != "state" or sums.dtype != "int64" or sums.size != channels:
        raise ValueError(f"sums {sums.name!r} must be an int64 state tensor of the {channels} channels, "
                         f"not {sums.storage} {sums.dtype}{tuple(sums.shape)}")
    if op.outputs != [sums.name]:
        raise ValueError(f"the potentials are summed in place: the output must be {sums.name!r}")
    positions = y.size // channels
    if 255 * 128 * positions > 2**31 - 1:
        raise ValueError(f"{positions} positions a channel: the inner product could wrap 32 bits")
    op.attrs.update(positions=int(positions), channels=channels, output_offset=-y.quant.zp)


def inner_products(op: Op, output: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """S[c] of one sample (int64)."""
    a = op.attrs
    y = output.reshape(-1, a["channels"]).astype(np.int64) + a["output_offset"]
    return (y * grad.reshape(-1, a["channels"]).astype(np.int64)).sum(axis=0)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    y, g, sums = inputs
    sq = inner_products(op, y, g) ** 2
    old = sums.reshape(-1).astype(np.int64)
    out = np.where(old > INT64_MAX - sq, INT64_MAX, old + np.minimum(sq, INT64_MAX - old))
    return [out.astype(np.int64).reshape(sums.shape)]


def macs(op: Op, graph: Graph) -> int:
    return op.attrs["positions"] * op.attrs["channels"]


def emit(op: Op, graph: Graph, ctx) -> str:
    a = op.attrs
    params = c_params(ctx, "mf_fisher_potential_params", {
        "positions": a["positions"], "channels": a["channels"], "output_offset": a["output_offset"]})
    y, g, s = (ctx.tensor(n) for n in op.inputs)
    return f"mf_fisher_potential_s8(&{params}, {y}, {g}, {s});"
