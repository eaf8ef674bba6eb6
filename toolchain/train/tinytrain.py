"""TinyTrain's task-adaptive sparse update (Kwon et al., ICML 2024): which layers and which of their
output channels to fine-tune for a task, from one forward and backward pass over its few labelled
samples, under a memory and a compute budget. The pass is
:func:`mcuforge.graph.backward.selection_graph`: on the board it sums each channel's potential in
exact int64 state (``fisher_potential`` op), which :func:`potential_sums` computes on its numpy
twin; :func:`layer_stats` scales the sums (from the board or the twin) and scores the layers,
:func:`select` picks under the budgets (on the host).

Per output channel o of a layer: the Fisher potential ``D_o = 1/(2N) sum_n (sum_d a_nd g_nd)^2``
(a: the layer's output activation at position d for sample n, g: the loss gradient there); per
layer ``P_i = sum_o D_o`` and the score ``s_i = P_i / ((|W_i| / max |W|) * (M_i / max M))``
(|W| parameter count, M forward MACs). Layers are taken in descending score; each takes as many of
its top channels (by D_o) as fit the budgets left, at most ``max_fraction`` of them.

Activations and gradients are the int8 training graph's (:mod:`mcuforge.graph.backward`),
dequantized: ``D_o = (s_a s_g)^2 / (2N) * sum_n S_n[o]^2`` with ``S_n[o]`` the integer inner
product of the int8 output and its int8 gradient. Costs, stated:
- memory: the trainable RAM copy of each chosen layer's int8 weights with their int16 residuals
  (``TRAINED_WEIGHT_BYTES`` a weight, :mod:`mcuforge.ops._train`): the training graph
  copies a layer's whole weight tensor even when only some channels train, so channels save
  compute, not memory here; with ``activations=True`` also, for every layer from the earliest
  chosen one on, its output activation and that output's gradient (what the backward keeps in
  the arena; an estimate: the planner may share some of these buffers);
- compute: the weight-update MACs of the chosen channels plus the input-gradient MACs of every
  layer after the earliest chosen one (the backward that must run to reach it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import ops
from ..graph.backward import SparseUpdate, layers, selection_graph
from ..graph.ir import Graph, Op
from ..ops._train import TRAINED_WEIGHT_BYTES
from ..reference.executor import initial_state, run_graph


@dataclass
class LayerStats:
    layer: int                 # number among the layers with weights (SparseUpdate's numbering)
    kind: str
    potentials: np.ndarray     # D_o per output channel
    params: int                # |W|
    macs: int                  # forward MACs
    grad_input_macs: int       # MACs of its input gradient
    kept_bytes: int = 0        # its output activation + that output's gradient (int8)
    score: float = 0.0

    @property
    def channels(self) -> int:
        return self.potentials.size

    @property
    def channel_macs(self) -> int:
        return self.macs // self.channels  # the update of one channel costs one forward's share


@dataclass
class Selection:
    update: SparseUpdate
    chosen: list[tuple[int, list[int]]]  # (layer, channels) in the order they were taken
    ram_bytes: int
    macs: int
    stats: list[LayerStats]


def _channel_axis(op: Op) -> int:
    return 3 if op.kind == "depthwise_conv2d" else 0


def potential_sums(sel: Graph, support: list[tuple[np.ndarray, int]]) -> list[np.ndarray]:
    """The int64 Fisher-potential sums of :func:`mcuforge.graph.backward.selection_graph` over the
    support set, on its numpy twin (what the board's state holds after the same invokes)."""
    state = initial_state(sel)
    for x, label in support:
        run_graph(sel, [x, np.array([label], np.int32)], state)
    return [state[name] for name in sel.outputs[1:] if name != CHOSEN]


def layer_stats(sel: Graph, sums: list[np.ndarray], samples: int, first: int = 0) -> list[LayerStats]:
    """Every layer's size, cost, Fisher potentials ``(s_a s_g)^2 sums / (2N)`` (the layers before
    ``first`` were not measured: potentials 0) and score."""
    net = layers(sel)
    if len(sums) != len(net) - first:
        raise ValueError(f"{len(sums)} potential sums for the {len(net) - first} layers from layer {first} on")
    stats = []
    for k, op in enumerate(net):
        y = sel.tensor(op.outputs[0])
        if k >= first:
            s_g = sel.tensor(f"grad:{op.outputs[0]}").quant.s
            pot = (y.quant.s * s_g) ** 2 * np.asarray(sums[k - first], np.float64).reshape(-1) / (2 * samples)
        else:
            pot = np.zeros(y.shape[-1])
        dx = ops.get(f"{op.kind}_grad_input")
        stats.append(LayerStats(k, op.kind, pot, sel.tensor(op.inputs[1]).size,
                                int(ops.get(op.kind).macs(op, sel)), int(dx.macs(_grad_input_op(op), sel)),
                                kept_bytes=2 * y.size))
    top_w, top_m = max(s.params for s in stats), max(s.macs for s in stats)
    for s in stats:
        s.score = float(s.potentials.sum()) / ((s.params / top_w) * (s.macs / top_m))
    return stats


def fisher_potentials(graph: Graph, support: list[tuple[np.ndarray, int]], first: int = 0) -> list[LayerStats]:
    """D_o of every layer with weights (from layer ``first`` on) over the labelled support set,
    with each layer's size and cost, scored: one forward/backward per sample from the pretrained
    weights, on the numpy twin of the board's selection pass."""
    sel = selection_graph(graph, [x for x, _ in support], first)
    return layer_stats(sel, potential_sums(sel, support), len(support), first)


CHOSEN = "tinytrain:chosen"


def choice_graph(graph: Graph, calibration: list[np.ndarray], first: int, budget_ram: int,
                 budget_macs: int) -> Graph:
    """:func:`selection_graph` that also chooses on the board: a ``tinytrain_select`` op after the
    last potential (its last output, ``tinytrain:chosen``: 1 for every chosen channel of the
    layers from ``first`` on) — :func:`select` with ``activations=True`` under the budgets."""
    from ..graph.ir import Op, Tensor
    from ..graph.lower import lower

    sel = selection_graph(graph, calibration, first)
    net = layers(sel)
    stats = layer_stats(sel, [np.zeros(sel.tensor(op.outputs[0]).shape[-1], np.int64) for op in net[first:]], 1,
                        first)  # sizes and costs only
    top_w, top_m = max(s.params for s in stats), max(s.macs for s in stats)
    cand = stats[first:]
    info = [[s.channels, s.params * TRAINED_WEIGHT_BYTES, s.kept_bytes, s.channel_macs, s.grad_input_macs]
            for s in cand]
    factor = []
    for s in cand:
        y = net[s.layer].outputs[0]
        unit = (sel.tensor(y).quant.s * sel.tensor(f"grad:{y}").quant.s) ** 2
        factor.append(unit / ((s.params / top_w) * (s.macs / top_m)))
    total = sum(s.channels for s in cand)
    sel.tensors[CHOSEN] = Tensor(CHOSEN, (total,), "int8")
    sel.ops.append(Op("tinytrain_select", list(sel.outputs[1:]), [CHOSEN],
                      dict(layer_info=info, factor=factor, budget_ram=int(budget_ram), budget_macs=int(budget_macs)),
                      index=len(sel.ops), name="TinyTrain's choice"))
    sel.outputs = [*sel.outputs, CHOSEN]
    return lower(sel)


def chosen_channels(stats: list[LayerStats], first: int, mask) -> dict[int, list[int]]:
    """The board's choice (``tinytrain:chosen``) as {layer: channels} of the layers it took."""
    mask = np.asarray(mask).reshape(-1)
    out, pos = {}, 0
    for s in stats[first:]:
        picked = [int(c) for c in np.flatnonzero(mask[pos:pos + s.channels])]
        pos += s.channels
        if picked:
            out[s.layer] = picked
    return out


def first_candidate(graph: Graph, budget_ram: int) -> int:
    """The earliest layer a selection under ``budget_ram`` can train when the memory counts the
    backward's kept activations and gradients (``select(activations=True)``): the layers before
    it need not be measured. Raises ValueError if not even the last layer fits."""
    net = layers(graph)
    kept = [2 * graph.tensor(op.outputs[0]).size for op in net]
    params = [graph.tensor(op.inputs[1]).size for op in net]
    fits = [i for i in range(len(net)) if sum(kept[i:]) + params[i] <= budget_ram]
    if not fits:
        raise ValueError(f"no layer fits {budget_ram} bytes with the activations its backward keeps")
    return fits[0]


def _grad_input_op(op: Op) -> Op:
    """A stand-in of the layer's input-gradient op, enough for its macs() (shapes only: the output
    stands for its gradient, which a layer before the measured ones does not have)."""
    return Op(f"{op.kind}_grad_input", [op.outputs[0], op.outputs[0], op.inputs[1]], [op.inputs[0]])


def update_cost(stats: list[LayerStats], channels: dict[int, int], activations: bool = False,
                earliest: int | None = None) -> tuple[int, int]:
    """(memory bytes, MACs) of training ``channels[layer]`` output channels of each layer (the
    module docstring's cost model); ``earliest``: the backward reaches that layer even if its
    weights do not train (a bias there trains)."""
    if not channels and earliest is None:
        return 0, 0
    earliest = min([*channels, *([] if earliest is None else [earliest])])
    ram = sum(stats[i].params * TRAINED_WEIGHT_BYTES for i in channels)
    if activations:
        ram += sum(s.kept_bytes for s in stats if s.layer >= earliest)
    macs = sum(n * stats[i].channel_macs for i, n in channels.items())
    macs += sum(s.grad_input_macs for s in stats if s.layer > earliest)
    return ram, macs


def select(stats: list[LayerStats], budget_ram: int, budget_macs: int, max_fraction: float = 1.0,
           learning_rate: float = 0.01, activations: bool = False) -> Selection:
    """The layers and channels to fine-tune under the budgets (see the module docstring;
    ``activations``: the memory counts the backward's kept activations and gradients too)."""
    if not 0.0 < max_fraction <= 1.0:
        raise ValueError(f"max_fraction must be in (0, 1], got {max_fraction}")
    chosen: dict[int, list[int]] = {}

    def cost(sel: dict[int, list[int]]) -> tuple[int, int]:
        return update_cost(stats, {i: len(c) for i, c in sel.items()}, activations)

    order = []
    for s in sorted(stats, key=lambda s: -s.score):
        ranked = [int(c) for c in np.argsort(-s.potentials, kind="stable")]
        for k in range(min(s.channels, max(1, math.floor(max_fraction * s.channels))), 0, -1):
            trial = {**chosen, s.layer: sorted(ranked[:k])}
            ram, macs = cost(trial)
            if ram <= budget_ram and macs <= budget_macs:
                chosen = trial
                order.append((s.layer, trial[s.layer]))
                break
    if not chosen:
        raise ValueError(f"no layer fits {budget_ram} bytes and {budget_macs} MACs")
    ram, macs = cost(chosen)
    return Selection(SparseUpdate(weights=dict(chosen), learning_rate=learning_rate), order, ram, macs, stats)
