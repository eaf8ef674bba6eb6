"""TinyTrain's selection on the host: the Fisher potentials equal the paper's formula computed
independently (explicit loops over samples, channels and positions on the dequantized int8 twin,
and TensorFlow's float64 autodiff of the dequantized model within a stated tolerance), the layer
scores equal their definition, and the selection keeps the budgets, takes layers by score and
channels by potential, and trains on the board's numpy twin."""
from __future__ import annotations

import numpy as np
import pytest

from mcuforge.graph.backward import training_graph
from mcuforge.reference.executor import initial_state, run_graph, run_graph_all
from mcuforge.ops._train import TRAINED_WEIGHT_BYTES as B  # a trained weight's bytes (int8 + residual)
from mcuforge.train.tinytrain import fisher_potentials, select
from test_training_graph import model_graph, samples


def support(n=6, seed=0):
    labels = np.random.default_rng(seed + 100).integers(0, 10, n)
    return list(zip(samples(n, seed), (int(v) for v in labels)))


def test_potentials_and_scores_equal_the_formula_by_loops():
    data = support()
    stats = fisher_potentials(model_graph(), data)
    from mcuforge.graph.backward import SparseUpdate, layers

    probe = training_graph(model_graph(), SparseUpdate(weights={0: [0]}), [x for x, _ in data], read_back=False)
    net = layers(probe)
    runs = [run_graph_all(probe, [x, np.array([lab], np.int32)]) for x, lab in data]
    for k, op in enumerate(net):
        y, gy = probe.tensor(op.outputs[0]), probe.tensor("grad:" + op.outputs[0])
        chans = y.shape[-1]
        want = []
        for o in range(chans):
            total = 0.0
            for v in runs:
                a = v[y.name].reshape(-1, chans)[:, o]
                g = v[gy.name].reshape(-1, chans)[:, o]
                inner = sum(y.quant.s * (int(ai) - y.quant.zp) * gy.quant.s * int(gi) for ai, gi in zip(a, g))
                total += inner * inner
            want.append(total / (2 * len(runs)))
        np.testing.assert_allclose(stats[k].potentials, want, rtol=1e-12, atol=1e-300)
    top_w, top_m = max(s.params for s in stats), max(s.macs for s in stats)
    for s in stats:
        assert s.score == pytest.approx(s.potentials.sum() / ((s.params / top_w) * (s.macs / top_m)), rel=1e-12)
    assert [s.params for s in stats] == [4 * 3 * 3 * 2, 16 * 64, 10 * 16]


def test_potentials_near_float64_autodiff_of_the_dequantized_model():
    """Per layer, the int8 twin's P_i is within 12% of P_i from TF's float64 autodiff of the same
    model with dequantized weights (float softmax cross-entropy) for the two dense layers and
    within 35% for the conv (measured: 10%, 6%, 28% low): the int8 gradients are quantized (1/128
    at the logits, then at scales calibrated to their largest value, so small gradients round to
    0 two requantizations deep), the activations too. The layer ranking by P_i is the same."""
    import tensorflow as tf

    g = model_graph()
    data = support(8, seed=3)
    stats = fisher_potentials(g, data)
    conv, _, fc1, fc2, _ = g.ops

    def real(name):
        t = g.tensor(name)
        s = t.quant.scale.astype(np.float64)
        if t.quant.per_channel:
            s = s.reshape([-1 if i == t.quant.axis else 1 for i in range(len(t.shape))])
        return s * (t.data.astype(np.float64) - t.quant.zero_point.reshape(-1)[0])

    wc, bc, w1, b1, w2 = (real(n) for n in (conv.inputs[1], conv.inputs[2], fc1.inputs[1], fc1.inputs[2], fc2.inputs[1]))
    xq = g.tensor(g.inputs[0]).quant
    sums = [0.0, 0.0, 0.0]
    for x, lab in data:
        xr = tf.constant(xq.s * (x.astype(np.float64) - xq.zp))
        with tf.GradientTape() as tape:
            tape.watch(xr)  # records the ops from the input on, so intermediates have gradients
            a0 = tf.nn.relu(tf.nn.conv2d(xr, np.transpose(wc, (1, 2, 3, 0)), (1, 2, 2, 1), "SAME") + bc)
            a1 = tf.nn.relu(tf.reshape(a0, (1, -1)) @ w1.T + b1)
            a2 = a1 @ w2.T
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(np.array([lab]), a2)
        grads = tape.gradient(loss, [a0, a1, a2])
        for k, (a, gr) in enumerate(zip([a0, a1, a2], grads)):
            c = a.shape[-1]
            sums[k] = sums[k] + (tf.reshape(a * gr, (-1, c)).numpy().sum(axis=0)) ** 2
    want = [float(s.sum()) / (2 * len(data)) for s in sums]
    got = [float(s.potentials.sum()) for s in stats]
    rel = np.abs(np.subtract(got, want)) / np.abs(want)
    assert (rel <= [0.35, 0.12, 0.12]).all(), (got, want, rel)
    assert np.argsort(got).tolist() == np.argsort(want).tolist()


def test_selection_keeps_budgets_and_takes_scores_then_potentials():
    stats = fisher_potentials(model_graph(), support())
    everything = select(stats, 10**9, 10**9)
    assert sorted(everything.update.weights) == [0, 1, 2]
    assert all(len(c) == stats[i].channels for i, c in everything.update.weights.items())
    assert [layer for layer, _ in everything.chosen] == [s.layer for s in sorted(stats, key=lambda s: -s.score)]
    for ram, macs in [(200 * B, 10**9), (10**9, 1500), (300 * B, 2500), (160 * B, 100)]:
        sel = select(stats, ram, macs, max_fraction=0.5)
        assert sel.ram_bytes <= ram and sel.macs <= macs
        for layer, chans in sel.chosen:
            s = stats[layer]
            assert len(chans) <= max(1, s.channels // 2)
            # the chosen channels are the ones with the highest potentials
            assert s.potentials[chans].min() >= np.delete(s.potentials, chans).max(initial=-np.inf)
    with pytest.raises(ValueError, match="no layer fits"):
        select(stats, 1, 1)


def test_selected_update_trains():
    """The chosen sparse update goes straight into the training graph: the twin's loss falls."""
    data = support(12, seed=6)
    sel = select(fisher_potentials(model_graph(), data), 400 * B, 3000, learning_rate=0.05)
    g = training_graph(model_graph(), sel.update, [x for x, _ in data])
    state = initial_state(g)

    def loss():
        p = [int(run_graph(g, [x, np.array([lab], np.int32)], dict(state))[0].reshape(-1)[lab]) for x, lab in data]
        return float(-np.log(np.maximum((np.array(p) + 128) / 256, 1 / 512)).mean())

    before = loss()
    for _ in range(10):
        for x, lab in data:
            run_graph(g, [x, np.array([lab], np.int32)], state)
    assert loss() < 0.9 * before


def test_selection_with_activations_counts_what_the_backward_keeps():
    """activations=True: the memory adds, for every layer from the earliest chosen one on, its
    output and that output's gradient (int8); a budget the weights alone fit then takes fewer
    layers."""
    stats = fisher_potentials(model_graph(), support())
    assert [s.kept_bytes for s in stats] == [2 * 4 * 4 * 4, 2 * 16, 2 * 10]  # conv 4x4x4, dense 16, dense 10
    weights_only = select(stats, 10**9, 10**9)
    with_kept = select(stats, 10**9, 10**9, activations=True)
    assert with_kept.update.weights == weights_only.update.weights
    assert with_kept.ram_bytes == weights_only.ram_bytes + sum(s.kept_bytes for s in stats)
    tight = select(stats, weights_only.ram_bytes, 10**9, activations=True)
    assert sorted(tight.update.weights) != [0, 1, 2] and tight.ram_bytes <= weights_only.ram_bytes
    earliest = min(tight.update.weights)
    assert tight.ram_bytes == (sum(stats[i].params * B for i in tight.update.weights)
                               + sum(s.kept_bytes for s in stats if s.layer >= earliest))


def test_the_board_choice_op_equals_select_and_its_c_kernel():
    """tinytrain_select (the choice the board makes from its sums): its numpy twin takes what
    select(activations=True) takes from the same potentials, under budgets from everything down
    to nothing; its C kernel == the twin on the host, on the measured sums and on random ones with
    ties (equal sums: the lower channel; equal scores: the earlier layer)."""
    from kernel_harness import run_emitted
    from mcuforge import ops
    from mcuforge.train.tinytrain import CHOSEN, choice_graph, chosen_channels, potential_sums

    data = support(8, seed=2)
    g = model_graph()
    stats = fisher_potentials(g, data)
    rng = np.random.default_rng(5)
    for ram, macs in [(10**6, 10**9), (400 * B, 10**9), (10**6, 1500), (300 * B, 2500), (200 * B, 100), (60, 10**9)]:
        cg = choice_graph(g, [x for x, _ in data], 0, ram, macs)
        op = next(o for o in cg.ops if o.kind == "tinytrain_select")
        sums = potential_sums(cg, data)
        mask = ops.get(op.kind).reference(op, cg, sums)[0]
        try:
            want = select(stats, ram, macs, activations=True).update.weights
        except ValueError:
            want = {}
        assert chosen_channels(stats, 0, mask) == want, (ram, macs)
        np.testing.assert_array_equal(run_emitted(op, cg, sums)[0], mask)
        ties = [rng.integers(0, 4, s.shape).astype(np.int64) * 10**12 for s in sums]
        np.testing.assert_array_equal(run_emitted(op, cg, ties)[0], ops.get(op.kind).reference(op, cg, ties)[0])
        assert cg.outputs[-1] == CHOSEN


def test_potentials_from_a_later_first_layer():
    """Measured from layer 1 on (the layers a tight memory budget can reach): layer 0 is not
    measured (potentials 0) but keeps its size and costs, and the later layers' potentials are
    the same as when every layer is measured."""
    data = support()
    every, later = fisher_potentials(model_graph(), data), fisher_potentials(model_graph(), data, first=1)
    assert not later[0].potentials.any() and later[0].score == 0.0
    for a, b in zip(every, later):
        assert (a.params, a.macs, a.grad_input_macs, a.kept_bytes) == (b.params, b.macs, b.grad_input_macs, b.kept_bytes)
    for a, b in zip(every[1:], later[1:]):
        np.testing.assert_allclose(b.potentials, a.potentials, rtol=1e-12)
