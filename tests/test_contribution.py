"""sparse-update's scheme by Lin et al.'s contribution analysis, on the host's numpy twin (the
dense_flatten model of test_training_graph: conv 3x3 -> dense 16 -> dense 10, memorising 8
samples): every gain is the accuracy of its update trained on the twin minus the last layer's
alone; the scheme is the best sum of gains the budgets allow; a budget that fits only the last
layer gets the last layer."""
from __future__ import annotations

import math

import pytest

from mcuforge.graph.backward import SparseUpdate
from mcuforge.train.adapt import AdaptError, plan_update
from mcuforge.train.contribution import RATIOS, accuracy_after, analyse, split_support
from mcuforge.train.tinytrain import fisher_potentials, update_cost
from test_tinytrain import support
from test_training_graph import model_graph

LR, EPOCHS = 0.1, 5


def test_contributions_are_measured_gains_and_the_scheme_is_the_best_that_fits():
    g = model_graph()
    data = support(8, seed=6)
    stats = fisher_potentials(g, data)
    big = analyse(g, stats, data, data, 10, 10**6, 10**9, epochs=EPOCHS, learning_rate=LR)

    def acc(update):
        return accuracy_after(g, update, data, data, EPOCHS, 10)

    base = acc(SparseUpdate(weights={2: 1.0}, learning_rate=LR))  # the last dense has no bias
    assert big.base == base and big.bias[0] == 0.0 and set(big.weight) == {(i, r) for i in (0, 1) for r in RATIOS}
    assert big.weight[(1, 0.5)] == pytest.approx(acc(SparseUpdate(weights={2: 1.0, 1: 0.5}, learning_rate=LR)) - base)
    assert big.bias[2] == pytest.approx(acc(SparseUpdate(biases=2, weights={2: 1.0}, learning_rate=LR)) - base)
    assert max(big.weight.values()) > 0 and max(big.bias.values()) > 0  # measured gains, not all 0
    # unlimited budgets: the best bias count plus the best ratio of every layer that gains
    best = {i: max(RATIOS, key=lambda r: (big.weight[(i, r)], -r)) for i in (0, 1)}
    want = max(big.bias.values()) + sum(max(0.0, big.weight[(i, best[i])]) for i in (0, 1))
    assert big.gain == pytest.approx(want)
    assert big.update.weights == {2: 1.0, **{i: r for i, r in best.items() if big.weight[(i, r)] > 0}}
    # the budgets of training dense 1's weights: no room for the conv's weights (their backward's MACs)
    ram, macs = update_cost(stats, {2: 10, 1: 16}, activations=True)
    mid = analyse(g, stats, data, data, 10, ram, macs, epochs=EPOCHS, learning_rate=LR)
    assert 0 not in mid.update.weights and mid.update.biases < 2 and mid.ram_bytes <= ram  # (bias 2 is layer 0's)
    assert mid.macs <= macs
    assert mid.update.weights == {2: 1.0, 1: best[1]} and mid.gain == pytest.approx(big.weight[(1, best[1])])
    # only the last layer fits: its weights, nothing else
    ram, _ = update_cost(stats, {2: 10}, activations=True)
    small = analyse(g, stats, data, data, 10, ram, 10**9, epochs=1, learning_rate=LR)
    assert small.update.weights == {2: 1.0} and small.update.biases == 0 and small.ram_bytes <= ram
    # what adapt reports as chosen
    update, chosen = plan_update("sparse-update", g, data, 10**6, 10**9, LR, scheme=big)
    assert update is big.update
    assert [(c["layer"], c["channels"]) for c in chosen] == [
        (i, math.ceil(r * stats[i].channels)) for i, r in sorted(big.update.weights.items(), reverse=True)]


def test_the_analysis_splits_the_shots_and_needs_two_per_class():
    data = [(None, 0), (None, 1), (None, 0), (None, 1), (None, 0)]
    train, held = split_support(data, 2)
    assert [y for _, y in train] == [0, 1] and [y for _, y in held] == [0, 0, 1]
    with pytest.raises(AdaptError, match="at least 2 shots per class; class 1 has 1"):
        x = support(1)[0][0]
        plan_update("sparse-update", model_graph(), [(x, 0), (x, 1), (x, 0)], 10**6, 10**9, LR)
