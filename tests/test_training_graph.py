"""The compile-time backward graph of a small int8 CNN (tests/models dense_flatten: conv2d+ReLU,
flatten, dense+ReLU, dense, softmax) under a sparse update: what it contains (pruned backward,
in-place steps right after each gradient), that the numpy twin learns, and that the generated
firmware trains on the board over the link bit-exact with the numpy twin."""
from __future__ import annotations

import numpy as np
import pytest

from mcuforge.graph.backward import SparseUpdate, layers, residual_name, training_graph
from mcuforge.model.loader import load
from mcuforge.reference.executor import initial_state, run_graph, run_graph_all
from models.zoo import fixture

# biases of the last 2 layers with one (dense 1, conv); the weights of the last dense layer (it has no
# bias) and of half the conv's output channels
UPDATE = SparseUpdate(biases=2, weights={2: 1.0, 0: 0.5}, learning_rate=0.05)


def model_graph():
    return load(fixture("dense_flatten")).graph


def samples_of(model: str, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    g = load(fixture(model)).graph
    return [rng.integers(-128, 128, g.tensor(g.inputs[0]).shape).astype(np.int8) for _ in range(n)]


def samples(n: int, seed: int = 0):
    return samples_of("dense_flatten", n, seed)


def test_backward_is_pruned_and_each_step_follows_its_gradient():
    g = training_graph(model_graph(), UPDATE, samples(4))
    conv, fc1, fc2 = layers(g)
    kinds = [op.kind for op in g.ops]
    # the conv's output is read back only through its clamp (its weight step reads the model input):
    # it is kept as bits right after the conv (activation_mask) and unpacked before its backward
    assert kinds[:2] == ["conv2d", "activation_mask"]
    back = kinds[kinds.index("softmax_cross_entropy_grad"):]
    assert back == ["softmax_cross_entropy_grad",
                    "fully_connected_grad_input", "fully_connected_update",                 # dense 2
                    "fully_connected_grad_input", "bias_update",                              # dense 1: bias only
                    "reshape",                                                                # through flatten
                    "activation_unmask", "conv2d_update", "bias_update"]                      # conv: no input gradient
    trainable = {t.name for t in g.persistent()}
    trained_weights = {conv.inputs[1], fc2.inputs[1]}
    # each trained weight tensor with the int16 residual of its master copy (zero at the start)
    assert trainable == {conv.inputs[2], fc1.inputs[2], *trained_weights, *map(residual_name, trained_weights)}
    for w in trained_weights:
        r = g.tensor(residual_name(w))
        assert r.dtype == "int16" and r.shape == g.tensor(w).shape and not r.data.any()
    assert g.tensor(fc1.inputs[1]).is_const  # frozen weights stay in flash
    update = next(op for op in g.ops if op.kind == "conv2d_update")
    assert update.attrs["channels"] == [0, 1]  # half of 4 output channels
    assert g.inputs[-1] == "label" and g.outputs[0] == model_graph().outputs[0]


def test_forward_of_the_training_graph_is_the_inference_graph():
    model, g = model_graph(), training_graph(model_graph(), UPDATE, samples(4))
    for x in samples(3, seed=1):
        np.testing.assert_array_equal(run_graph(g, [x, np.array([0], np.int32)])[0], run_graph(model, [x])[0])


def test_numpy_twin_learns_a_small_labelled_set():
    """16 random inputs with random labels: the mean cross-entropy falls over 15 epochs."""
    g = training_graph(model_graph(), UPDATE, samples(8))
    xs = samples(16, seed=2)
    labels = np.random.default_rng(3).integers(0, 10, 16).astype(np.int32)
    state = initial_state(g)

    def loss():
        probs = [run_graph(g, [x, lab.reshape(1)], dict(state))[0] for x, lab in zip(xs, labels)]
        p = np.array([(int(pr.reshape(-1)[lab]) + 128) / 256 for pr, lab in zip(probs, labels)])
        return float(-np.log(np.maximum(p, 1 / 512)).mean())

    before = loss()
    for _ in range(15):
        for x, lab in zip(xs, labels):
            run_graph(g, [x, lab.reshape(1)], state)
    after = loss()
    assert after < 0.8 * before, (before, after)


def test_refuses_what_it_cannot_train():
    with pytest.raises(ValueError, match="trains nothing"):
        training_graph(model_graph(), SparseUpdate(), samples(1))
    with pytest.raises(ValueError, match="layer 7 does not exist"):
        training_graph(model_graph(), SparseUpdate(weights={7: 1.0}), samples(1))
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        training_graph(model_graph(), SparseUpdate(weights={0: 1.5}), samples(1))


def test_global_average_pooling_gradient_is_an_exact_broadcast():
    """global_pool (conv2d+ReLU, MEAN over H and W, dense, softmax), conv weights trained: the
    gradient reaches the conv through the mean as the dense layer's input gradient over H*W."""
    g = training_graph(load(fixture("global_pool")).graph, SparseUpdate(weights={0: 1.0}), samples_of("global_pool", 4))
    mean = next(op for op in g.ops if op.kind == "mean_grad_input")
    gy, gx = g.tensor(mean.inputs[0]), g.tensor(mean.outputs[0])
    assert gx.quant.s == pytest.approx(gy.quant.s / 81, rel=1e-6)
    values = run_graph_all(g, [samples_of("global_pool", 1)[0], np.array([2], np.int32)])
    np.testing.assert_array_equal(values[gx.name].reshape(-1, 8), np.broadcast_to(
        np.where((values[mean.inputs[1]] > -128) & (values[mean.inputs[1]] < 127), values[gy.name], 0), (81, 8)))


@pytest.mark.qemu
@pytest.mark.parametrize("model, update", [
    ("global_pool", SparseUpdate(biases=1, weights={0: 0.5, 1: 1.0}, learning_rate=0.05)),
    # the DS-CNN keyword spotter: its dense layer, the last pointwise conv's bias and 16 of its 64 channels
    ("ds_cnn_kws", SparseUpdate(biases=2, weights={9: 1.0, 8: 0.25}, learning_rate=0.01)),
])
def test_board_trains_other_models_bit_exact(model, update, tmp_path):
    g = training_graph(load(fixture(model)).graph, update, samples_of(model, 4))
    train_on_board_and_compare(g, samples_of(model, 3 if model == "ds_cnn_kws" else 8, seed=4), tmp_path)


@pytest.mark.qemu
def test_board_trains_from_clamp_bits_bit_exact(tmp_path):
    """The biases of ds_cnn_kws' last 2 layers: the pointwise conv's output reaches its bias step as
    bits (bias_update reads them), the pooling output through the int8 stand-in (its gradient and
    the dense layer's read it): 3 steps on netduinoplus2 equal the numpy twin."""
    g = training_graph(load(fixture("ds_cnn_kws")).graph, SparseUpdate(biases=2, learning_rate=0.01),
                       samples_of("ds_cnn_kws", 4))
    kinds = [op.kind for op in g.ops]
    assert kinds.count("activation_mask") == 2 and kinds.count("activation_unmask") == 1
    assert any(op.kind == "bias_update" and g.tensor(op.inputs[1]).dtype == "uint8" for op in g.ops)
    train_on_board_and_compare(g, samples_of("ds_cnn_kws", 3, seed=4), tmp_path)


@pytest.mark.qemu
def test_board_trains_bit_exact_with_the_numpy_twin(tmp_path):
    """12 training steps of dense_flatten."""
    train_on_board_and_compare(training_graph(model_graph(), UPDATE, samples(4)), samples(12, seed=4), tmp_path)


def train_on_board_and_compare(g, xs, tmp_path):
    """One training step per sample on netduinoplus2 over the link, random labels: every step's
    probabilities and every trained tensor equal the numpy twin's, which carries the same state."""
    from mcuforge.target import open_target

    state = initial_state(g)
    classes = g.tensor(g.outputs[0]).shape[-1]
    labels = np.random.default_rng(5).integers(0, classes, len(xs)).astype(np.int32)
    with open_target(g, "netduinoplus2", workdir=tmp_path) as target:
        for step, (x, lab) in enumerate(zip(xs, labels)):
            want = run_graph(g, [x, lab.reshape(1)], state)
            got, _ = target.run([x, lab.reshape(1)])
            for name, a, b in zip(g.outputs, got, want):
                np.testing.assert_array_equal(a.reshape(b.shape), b, err_msg=f"step {step}: {name} differs")
    assert all(not np.array_equal(state[t.name], t.data) for t in g.persistent())


def test_clamp_bits_train_the_same_in_less_memory():
    """Every bias of ds_cnn_kws (TinyTL's update): the backward reads each layer output only through
    its clamp, so the graph keeps them as bits; 4 steps give the same probabilities and biases as the
    graph that keeps the outputs, in under half its arena. A graph where bits would not shrink the
    arena (global_pool) keeps its outputs."""
    from mcuforge.plan.arena import plan_arena

    graph = load(fixture("ds_cnn_kws")).graph
    update = SparseUpdate(biases=len([op for op in layers(graph) if len(op.inputs) > 2]), learning_rate=0.01)
    xs = samples_of("ds_cnn_kws", 4, seed=6)
    outputs, bits = (training_graph(graph, update, xs[:2], masks=m) for m in (False, True))
    # the 9 conv outputs and the pooling output, each read back only through its clamp
    assert sum(op.kind == "activation_mask" for op in bits.ops) == 10 and not any("mask" in op.kind for op in outputs.ops)
    assert plan_arena(bits).arena_bytes < plan_arena(outputs).arena_bytes / 2
    sa, sb = initial_state(outputs), initial_state(bits)
    for k, x in enumerate(xs):
        label = np.array([k % 12], np.int32)
        for a, b in zip(run_graph(outputs, [x, label], sa), run_graph(bits, [x, label], sb)):
            np.testing.assert_array_equal(a, b)
    pool = load(fixture("global_pool")).graph
    g = training_graph(pool, SparseUpdate(biases=1, weights={0: 0.5, 1: 1.0}), samples_of("global_pool", 2))
    assert not any("mask" in op.kind for op in g.ops)
