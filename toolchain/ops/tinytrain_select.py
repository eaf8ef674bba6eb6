"""TinyTrain's choice of layers and channels on the board (Kwon et al., ICML 2024), from the
Fisher-potential sums of the candidate layers (:mod:`mcuforge.ops.fisher_potential`) and budgets
fixed at generation.

Inputs: each candidate layer's ``sums`` (C_i,) int64 (network order, up to 64 layers); output:
``chosen`` (sum C_i,) int8, 1 for every chosen output channel, layer after layer. Attrs (set by
:func:`mcuforge.train.tinytrain.choice_graph`): ``layer_info`` (per layer: channels, the bytes
of its trained weights (|W| x ``TRAINED_WEIGHT_BYTES``: int8 and residual), kept bytes, MACs of one channel's update, MACs of its input gradient), ``factor`` (float32 per layer:
``(s_a s_g)^2 / ((|W_i|/max|W|) (M_i/max M))``, the score of one unit of the sums; the 1/(2N) of
the potentials is common to every layer and left out), ``budget_ram``, ``budget_macs``.

The choice is :func:`mcuforge.train.tinytrain.select`'s with the kept activations counted: layers
by descending score ``factor_i * sum_o sums_i[o]`` (summed in double in channel order; ties: the
earlier layer), each taking as many channels as the budgets left allow, the channels with the
largest sums (ties: the lower channel).
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op

KIND = "tinytrain_select"
MAX_LAYERS = 64
INPUTS = ("sums",) + ("sums?",) * (MAX_LAYERS - 1)
FIELDS = ("channels", "params", "kept_bytes", "channel_macs", "grad_input_macs")


def prepare(op: Op, graph: Graph) -> None:
    a = op.attrs
    info = np.asarray(a.get("layer_info", []), np.int64).reshape(-1, len(FIELDS))
    factor = np.asarray(a.get("factor", []), np.float32).reshape(-1)
    if not 0 < len(op.inputs) == len(info) == len(factor) <= MAX_LAYERS:
        raise ValueError(f"{len(op.inputs)} layers' sums, {len(info)} layer_info rows and {len(factor)} factors: "
                         f"one each, 1..{MAX_LAYERS}")
    for name, row in zip(op.inputs, info):
        t = graph.tensor(name)
        if t.dtype != "int64" or t.size != row[0]:
            raise ValueError(f"sums {name!r} must be int64 of the layer's {row[0]} channels, not {t.dtype}{t.shape}")
    out = graph.tensor(op.outputs[0])
    if out.dtype != "int8" or out.size != int(info[:, 0].sum()):
        raise ValueError(f"chosen {out.name!r} must be int8 of {int(info[:, 0].sum())} channels")
    if (info < 0).any() or (info > 2**31 - 1).any() or not np.isfinite(factor).all() or (factor < 0).any():
        raise ValueError("layer_info must be int32 counts and factors finite and >= 0")
    for key in ("budget_ram", "budget_macs"):
        if not 0 <= int(a.get(key, -1)) <= 2**31 - 1:
            raise ValueError(f"{key} must be in 0..2^31-1, got {a.get(key)}")
    a.update(layer_info=info, factor=factor)


def _fits(info: np.ndarray, take: list[int], a: dict) -> bool:
    picked = [i for i, k in enumerate(take) if k > 0]
    if not picked:
        return 0 <= a["budget_ram"] and 0 <= a["budget_macs"]
    e = picked[0]
    ram = sum(int(info[i, 1]) for i in picked) + sum(int(v) for v in info[e:, 2])
    macs = sum(take[i] * int(info[i, 3]) for i in picked) + sum(int(v) for v in info[e + 1:, 4])
    return ram <= a["budget_ram"] and macs <= a["budget_macs"]


def choose(op: Op, sums: list[np.ndarray]) -> list[list[int]]:
    """The chosen channels of each candidate layer."""
    a = op.attrs
    info = a["layer_info"]
    scores = []
    for i, s in enumerate(sums):
        total = 0.0
        for v in np.asarray(s).reshape(-1):
            total += float(v)  # double, in channel order, as the C kernel adds
        scores.append(float(a["factor"][i]) * total)
    take = [0] * len(sums)
    for i in sorted(range(len(sums)), key=lambda i: -scores[i]):
        for k in range(int(info[i, 0]), 0, -1):
            take[i] = k
            if _fits(info, take, a):
                break
            take[i] = 0
    return [sorted(int(c) for c in np.argsort(-np.asarray(s, np.int64).reshape(-1), kind="stable")[:k])
            for s, k in zip(sums, take)]


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for s, picked in zip(inputs, choose(op, inputs)):
        mask = np.zeros(np.asarray(s).size, np.int8)
        mask[picked] = 1
        out.append(mask)
    return [np.concatenate(out).reshape(graph.tensor(op.outputs[0]).shape)]


def macs(op: Op, graph: Graph) -> int:
    return 0  # comparisons, no multiply-accumulates


def emit(op: Op, graph: Graph, ctx) -> str:
    from .conv2d import c_params

    a = op.attrs
    params = c_params(ctx, "mf_tinytrain_select_params", {
        "layers": len(op.inputs), "budget_ram": a["budget_ram"], "budget_macs": a["budget_macs"]})
    info = ctx.array("layer_info", a["layer_info"].astype(np.int32), "int32_t",
                     "per layer: channels, |W|, kept bytes, MACs of one channel's update, of its input gradient")
    factor = ctx.array("factor", a["factor"], "float", "score of one unit of each layer's sums")
    sums = ", ".join(ctx.tensor(n) for n in op.inputs)
    return (f"{{ const int64_t *const sums[] = {{{sums}}};\n"
            f"  mf_tinytrain_select(&{params}, {info}, {factor}, sums, {ctx.tensor(op.outputs[0])}); }}")
