"""Lin et al. 2022's contribution analysis ("On-Device Training Under 256KB Memory", section 3.3):
the static sparse-update scheme, chosen offline from measured contributions under the budgets.

Every candidate update is fine-tuned on the numpy twin of the board's int8 training graph
(:func:`mcuforge.graph.backward.training_graph`, bit-exact with the board) on ``train`` samples and
scored by its accuracy on ``held_out`` samples. The last layer always trains (weights and bias), as
in the paper; the contributions are gains over that alone:

- ``bias[k]``: the biases of the last k layers with a bias;
- ``weight[(i, r)]``: the weights of layer i, the first ceil(r * C_i) of its output channels.

The scheme maximises ``bias[k] + sum_i weight[(i, r_i)]`` (the paper assumes contributions add
up) over k and every assignment of a ratio, or none, to the candidate layers, under the memory and
MAC budgets of :func:`mcuforge.train.tinytrain.update_cost` (with the kept activations); ties go
to the cheaper scheme. Candidates: the layers a scheme under the memory budget can reach
(:func:`mcuforge.train.tinytrain.first_candidate`), the latest ``max_layers`` of them.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..graph.backward import SparseUpdate, layers, training_graph
from ..graph.ir import Graph
from ..reference.executor import initial_state, run_graph
from .tinytrain import LayerStats, first_candidate, update_cost

RATIOS = (0.25, 0.5, 1.0)


@dataclass
class Contribution:
    base: float                              # held-out accuracy with the last layer trained alone
    bias: dict[int, float]                   # k -> gain
    weight: dict[tuple[int, float], float]   # (layer, ratio) -> gain
    update: SparseUpdate                     # the scheme chosen
    gain: float                              # its summed contribution
    ram_bytes: int
    macs: int


def accuracy_after(graph: Graph, update: SparseUpdate, train, held_out, epochs: int, classes: int) -> float:
    """Held-out accuracy (argmax of the first ``classes`` outputs) after ``epochs`` passes of
    training ``update`` on ``train`` with the numpy twin."""
    tg = training_graph(graph, update, [x for x, _ in train], masks=False)  # host only: same maths, no bits
    state = initial_state(tg)
    for _ in range(epochs):
        for x, label in train:
            run_graph(tg, [x, np.array([label], np.int32)], state)
    hits = [int(np.argmax(run_graph(tg, [x, np.array([y], np.int32)], dict(state))[0].reshape(-1)[:classes])) == y
            for x, y in held_out]
    return float(np.mean(hits))


def analyse(graph: Graph, stats: list[LayerStats], train, held_out, classes: int, budget_ram: int, budget_macs: int,
            epochs: int = 2, learning_rate: float = 0.01, ratios=RATIOS, max_layers: int = 4) -> Contribution:
    net = layers(graph)
    last = len(net) - 1
    biased = [i for i, op in enumerate(net) if len(op.inputs) > 2 and op.inputs[2]]
    last_bias = 1 if last in biased else 0
    first = first_candidate(graph, budget_ram)
    candidates = list(range(first, last))[-max_layers:]

    def acc(biases: int, weights: dict) -> float:
        update = SparseUpdate(biases=biases, weights={last: 1.0, **weights}, learning_rate=learning_rate)
        return accuracy_after(graph, update, train, held_out, epochs, classes)

    base = acc(last_bias, {})
    bias = {k: acc(k, {}) - base for k in range(last_bias + 1, 1 + sum(1 for i in biased if i >= first))}
    bias[last_bias] = 0.0
    weight = {(i, r): acc(last_bias, {i: r}) - base for i in candidates for r in ratios}
    best = None
    for k in sorted(bias):
        bias_from = biased[len(biased) - k] if k else last
        for choice in itertools.product([None, *ratios], repeat=len(candidates)):
            picked = {i: r for i, r in zip(candidates, choice) if r is not None}
            channels = {last: stats[last].channels,
                        **{i: math.ceil(r * stats[i].channels) for i, r in picked.items()}}
            ram, macs = update_cost(stats, channels, activations=True, earliest=bias_from)
            if ram > budget_ram or macs > budget_macs:
                continue
            gain = bias[k] + sum(weight[(i, r)] for i, r in picked.items())
            key = (gain, -ram, -macs)
            if best is None or key > best[0]:
                best = (key, k, picked, ram, macs)
    if best is None:
        raise ValueError(f"not even the last layer fits {budget_ram} bytes and {budget_macs} MACs")
    (gain, _, _), k, picked, ram, macs = best
    update = SparseUpdate(biases=k, weights={last: 1.0, **picked}, learning_rate=learning_rate)
    return Contribution(base, dict(sorted(bias.items())), weight, update, gain, ram, macs)


def split_support(support, classes: int):
    """The first half of each class's shots to train on, the rest held out (at least one each)."""
    train, held = [], []
    for k in range(classes):
        mine = [s for s in support if s[1] == k]
        if len(mine) < 2:
            raise ValueError(f"contribution analysis needs at least 2 shots per class; class {k} has {len(mine)}")
        cut = len(mine) // 2
        train += mine[:cut]
        held += mine[cut:]
    return train, held
