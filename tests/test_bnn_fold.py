"""Folding a Keras BNN (mcuforge.train.bnn) into the IR: the folded numpy network equals the Keras
model layer by layer.

The test model is G1's real network (build_bnn_kws, BinaryConv2D with -1 padding,
BinaryInputConv2D), small, with random weights and BatchNorm statistics: negative gammas, zero
gammas (constant channels), channel counts that are not multiples of 32, strides 1 and 2. Its
float conv kernels are integers times a power of two per channel and the input range gives a
power-of-two input scale, so int8 quantization is lossless and Keras's float convs are exact:
then every binarized activation must match bit for bit, and the float last conv / embedding match
to float32 rounding. Only BatchNorm runs in float32 in Keras, so a pre-activation within rounding of
its threshold could flip a bit: each binarizing BatchNorm's threshold is therefore placed half a
step between two values its conv can produce (bit-exact by construction, not by lucky seeds; see
``midpoint_bn``). The same holds for the shipped full-size design (98x64 input, default widths).
"""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from mcuforge.data.features import FeatureConfig
from mcuforge.model.keras_bnn import (BnnFoldError, compare_with_keras, fold_threshold,
                                      head_logits, input_quant, load_bnn_keras, quantize_inputs)
from mcuforge.ops.bconv2d import unpack_bits
from mcuforge.reference.executor import run_graph_all

FRAMES, MELS = 20, 16
EXACT_RANGE = (-4.0, 3.96875)  # input scale 1/32, zero point 0
LABELS = ["silence", "unknown", "yes", "no"]


def feature_config() -> FeatureConfig:
    return FeatureConfig(hop=160, n_mels=MELS, clip_samples=400 + (FRAMES - 1) * 160, mean=-3.0, std=2.0)


def pow2_kernel(rng, shape_hwio) -> np.ndarray:
    """Per output channel: integers in [-127, 127] (one of them +-127) times 2^-e: lossless in int8."""
    k = rng.integers(-127, 128, shape_hwio).astype(np.float64)
    o = shape_hwio[-1]
    flat = k.reshape(-1, o)
    flat[0] = 127 * rng.choice([-1, 1], o)
    e = rng.integers(5, 9, o)
    return (k * 2.0 ** -e).astype(np.float32)


def midpoint_bn(gamma, beta, mean, var, eps: float, step) -> np.ndarray:
    """The moving mean that puts BN's zero crossing, mean - beta sqrt(var + eps) / gamma, half a
    ``step`` (per channel) between two multiples of ``step``: the values the conv before it can
    produce. Keras's float32 BN then cannot flip a bit: its rounding error is at most a few ulps of
    values below 2^18 steps (the conv sums), ~2^-4 step, against a margin of half a step."""
    gamma, beta, mean, var = (np.asarray(v, np.float64) for v in (gamma, beta, mean, var))
    step = np.broadcast_to(np.asarray(step, np.float64), gamma.shape)
    live = gamma != 0  # gamma == 0 is a constant bit: nothing to move
    offset = np.where(live, beta * np.sqrt(var + eps) / np.where(live, gamma, 1.0), 0.0)
    t = mean - offset
    t_mid = (np.floor(t / step) + 0.5) * step
    return np.where(live, t_mid + offset, mean).astype(np.float32)


def random_bnn(rng, input_shape=(FRAMES, MELS, 1), n_classes=len(LABELS), input_step: float = 1 / 32, **arch):
    """G1's network with random weights, BN statistics around the real pre-BN values (mixed bits),
    ~35% negative and ~10% zero gammas, binarizing thresholds at midpoints (``midpoint_bn``) for
    inputs quantized with scale ``input_step``. ``arch``: build_bnn_kws options (small defaults)."""
    from mcuforge.train.bnn import build_bnn_kws

    arch = {**dict(widths=(40, 33), strides=(2, 1), first_filters=36, embedding_dim=24, first_strides=(1, 2)), **arch}
    model = build_bnn_kws(input_shape, n_classes, dropout=0.0, **arch)
    calib = rng.normal(0, 1, (16,) + tuple(input_shape)).astype(np.float32)
    step = None  # grid of the pre-BN values of the conv just set (None: not binarized after)
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "Conv2D" or cls == "BinaryInputConv2D":
            kernel = pow2_kernel(rng, layer.kernel.shape)
            layer.set_weights([kernel])
            # conv0: int8 inputs (input_step) times integers 2^-e per channel (e from the +-127 entry)
            e = np.log2(127 / np.abs(kernel).reshape(-1, kernel.shape[-1]).max(axis=0))
            step = input_step * 2.0 ** -np.round(e) if cls == "Conv2D" else None
        elif cls == "BinaryConv2D":
            layer.set_weights([rng.uniform(-1, 1, layer.kernel.shape).astype(np.float32)])
            step = 1.0  # sums of +-1 products
        elif cls == "BatchNormalization":
            # statistics of the actual pre-BN values, so that bits come out mixed
            conv_out = keras.Model(model.input, layer.input).predict(calib, verbose=0)
            mu = conv_out.mean(axis=(0, 1, 2))
            sd = conv_out.std(axis=(0, 1, 2)) + 1e-3
            c = mu.size
            gamma = rng.uniform(0.5, 2.0, c) * rng.choice([-1, 1], c, p=[0.35, 0.65])
            gamma[rng.random(c) < 0.1] = 0.0
            beta = rng.normal(0, 0.3, c).astype(np.float32)
            mean = (mu + rng.normal(0, 0.3, c) * sd).astype(np.float32)
            var = (sd**2 * rng.uniform(0.5, 2.0, c)).astype(np.float32)
            if step is not None:
                mean = midpoint_bn(gamma.astype(np.float32), beta, mean, var, float(layer.epsilon), step)
            layer.set_weights([gamma.astype(np.float32), beta, mean, var])
        elif cls == "Dense":
            k, b = layer.get_weights()
            layer.set_weights([rng.normal(0, 1, k.shape).astype(np.float32),
                               rng.normal(0, 0.1, b.shape).astype(np.float32)])
    return model


def shipped_design() -> dict:
    """build_bnn_kws's own defaults (the design the demo trains); random_bnn defaults to a small one."""
    import inspect

    from mcuforge.train.bnn import build_bnn_kws

    keys = ("widths", "strides", "first_filters", "first_kernel", "first_strides", "embedding_dim", "last_kernel")
    params = inspect.signature(build_bnn_kws).parameters
    return {k: params[k].default for k in keys}


@pytest.fixture(scope="module")
def saved_bnn(tmp_path_factory):
    from mcuforge.train.bnn import save_bnn

    rng = np.random.default_rng(2025)
    model = random_bnn(rng)
    path = save_bnn(model, feature_config(), LABELS, tmp_path_factory.mktemp("bnn") / "bnn.keras")
    return path, model


@pytest.fixture(scope="module")
def shipped_bnn(tmp_path_factory):
    """The full-size design (98x64 log-mel, default widths, 128-d embedding), random weights."""
    from mcuforge.train.bnn import BASE_LABELS, BNN_FEATURES, save_bnn

    rng = np.random.default_rng(2026)
    cfg = BNN_FEATURES.with_stats(-5.0, 3.0)
    model = random_bnn(rng, cfg.shape + (1,), len(BASE_LABELS), **shipped_design())
    return save_bnn(model, cfg, list(BASE_LABELS), tmp_path_factory.mktemp("bnn-full") / "bnn.keras"), model


def keras_layer_outputs(model, names, x):
    sub = keras.Model(model.input, [model.get_layer(n).output for n in names])
    return sub.predict(x, verbose=0)


@pytest.mark.parametrize("design,clips", [("small", 6), ("shipped", 2)])
def test_folded_network_equals_keras_layer_by_layer(request, design, clips):
    path, _ = request.getfixturevalue("saved_bnn" if design == "small" else "shipped_bnn")
    model = keras.saving.load_model(path)  # the saved file, as the generator reads it
    graph, meta = load_bnn_keras(path, input_range=EXACT_RANGE)
    assert meta["input_scale"] == 1 / 32 and meta["input_zero_point"] == 0
    convs = meta["backbone"]
    assert [op.kind for op in graph.ops] == (["conv2d_threshold"] + ["bconv2d"] * (len(convs) - 2)
                                             + ["bconv2d_int8w", "mean_f32"])
    if design == "shipped":
        assert graph.tensors[graph.inputs[0]].shape == (1, 98, 64, 1)
        assert graph.tensors[graph.outputs[0]].shape == (1, 128)

    rng = np.random.default_rng(1)
    frames, mels = graph.tensors[graph.inputs[0]].shape[1:3]
    feats = rng.normal(0, 1.3, (clips, frames, mels)).astype(np.float32)
    q = quantize_inputs(feats, meta)
    x_keras = (q.astype(np.float32) / 32)[..., None]  # exactly what the int8 input stands for
    bn_names = [c["bn"] for c in convs]
    keras_out = keras_layer_outputs(model, bn_names + ["conv_last_relu", "embedding", "head"], x_keras)
    for i in range(len(feats)):
        values = run_graph_all(graph, [q[i][None, ..., None]])
        for li, (conv, op) in enumerate(zip(convs[:-1], graph.ops)):
            pre = keras_out[li][i]  # BN output before ReLU: bit = pre > 0
            got = unpack_bits(values[op.outputs[0]][0], conv["filters"])
            np.testing.assert_array_equal(got, (pre > 0).astype(np.uint8),
                                          err_msg=f"clip {i}: {conv['conv']} bits differ from Keras")
        last = values[graph.ops[-2].outputs[0]][0]
        np.testing.assert_allclose(last, keras_out[len(convs)][i], rtol=2e-5, atol=2e-6 * np.abs(last).max())
        emb = values[graph.outputs[0]][0]
        np.testing.assert_allclose(emb, keras_out[len(convs) + 1][i], rtol=2e-5, atol=1e-6 * np.abs(emb).max())
        logits = head_logits(meta, emb[None])[0]
        assert np.argmax(logits) == np.argmax(keras_out[-1][i])
        assert np.count_nonzero(emb) > emb.size // 4  # a live embedding, not all ReLU zeros


def test_thresholds_sit_between_the_values_a_conv_can_produce():
    """midpoint_bn moves the zero crossing to k + 0.5 steps; gamma == 0 channels keep their mean."""
    rng = np.random.default_rng(5)
    c, eps = 64, 1e-3
    gamma = rng.uniform(0.5, 2, c) * rng.choice([-1, 1], c)
    gamma[:4] = 0
    beta, var, step = rng.normal(0, 0.3, c), rng.uniform(0.5, 4, c), 2.0 ** -rng.integers(10, 14, c)
    mean = rng.normal(0, 5, c)
    moved = midpoint_bn(gamma, beta, mean, var, eps, step).astype(np.float64)
    t = (moved - beta * np.sqrt(var + eps) / np.where(gamma != 0, gamma, 1)) / step
    assert np.all(np.abs(t[4:] - np.floor(t[4:]) - 0.5) < 0.05)  # float32 mean: within ulps of k + 0.5
    assert np.array_equal(moved[:4], mean[:4].astype(np.float32))


def test_bits_are_mixed_and_special_channels_exist(saved_bnn):
    """The comparison above is meaningful: negative and zero gammas are present and bits vary."""
    path, _ = saved_bnn
    graph, _ = load_bnn_keras(path, input_range=EXACT_RANGE)
    flips = np.concatenate([graph.tensors[op.inputs[-1]].data for op in graph.ops[:3]])
    assert 0.15 < flips.mean() < 0.6
    rng = np.random.default_rng(3)
    q = rng.integers(-100, 100, (1, FRAMES, MELS, 1)).astype(np.int8)
    values = run_graph_all(graph, [q])
    for op, c in zip(graph.ops[:3], (36, 40, 33)):
        bits = unpack_bits(values[op.outputs[0]], c)
        assert 0.1 < bits.mean() < 0.9, f"{op.name}: bits are nearly constant"


def test_metadata_and_head(saved_bnn):
    path, model = saved_bnn
    graph, meta = load_bnn_keras(path)
    assert meta["labels"] == LABELS
    assert meta["feature_config"] == feature_config()
    assert meta["head_W"].shape == (len(LABELS), 24) and meta["head_W"].dtype == np.float32
    np.testing.assert_array_equal(meta["head_W"], model.get_layer("head").get_weights()[0].T)
    np.testing.assert_array_equal(meta["head_b"], model.get_layer("head").get_weights()[1])
    assert meta["embedding_dim"] == 24
    assert graph.inputs == ["log_mel"] and graph.tensors["log_mel"].shape == (1, FRAMES, MELS, 1)
    assert graph.tensors[graph.outputs[0]].shape == (1, 24)
    assert len(graph.source_hash) == 64
    floor = (np.log(1e-6) + 3.0) / 2.0  # normalized log(eps) of feature_config()
    assert meta["input_range"] == pytest.approx((floor, 4.0))
    assert (meta["input_scale"], meta["input_zero_point"]) == input_quant(floor, 4.0)
    # the floor itself is representable: silent frames quantize to the bottom code without clipping error
    q = quantize_inputs(np.full((1, FRAMES, MELS), floor, np.float32), meta)
    back = (q.astype(np.float64) - meta["input_zero_point"]) * meta["input_scale"]
    assert np.abs(back - floor).max() <= meta["input_scale"] / 2 + 1e-6


def test_default_quantization_stays_close_to_keras(saved_bnn):
    """With the default (non power-of-two) input scale the folded net still agrees with Keras."""
    path, model = saved_bnn
    graph, meta = load_bnn_keras(path)
    feats = np.random.default_rng(9).normal(0, 1, (24, FRAMES, MELS)).astype(np.float32)
    report = compare_with_keras(model, graph, meta, feats)
    assert report["agreement"] >= 0.8, report


def test_host_embeddings_are_the_front_end_twin_then_the_folded_network_clip_by_clip(saved_bnn):
    """learning.embed.host_embeddings (what the federated host twin learns on), batched over clips
    and a short last batch, equals each clip's own chain: numpy front end, int8 input, run_graph."""
    from mcuforge.frontend.reference import expected_input
    from mcuforge.learning.embed import host_embeddings
    from mcuforge.reference.executor import run_graph

    graph, meta = load_bnn_keras(saved_bnn[0])
    cfg = meta["feature_config"]
    clips = np.random.default_rng(8).integers(-6000, 6000, (5, cfg.clip_samples)).astype(np.int16)
    got = host_embeddings(graph, meta, clips, batch=2)
    shape = graph.tensors[graph.inputs[0]].shape
    for i, clip in enumerate(clips):
        x = expected_input(cfg, clip, meta["input_scale"], meta["input_zero_point"]).reshape(shape)
        np.testing.assert_array_equal(got[i], run_graph(graph, [x])[0].reshape(-1), err_msg=f"clip {i}")
    assert len({e.tobytes() for e in got}) == len(clips)
    with pytest.raises(ValueError, match="int16 clips"):
        host_embeddings(graph, meta, clips.astype(np.float32))
    from mcuforge.model.keras_bnn import folded_embeddings

    assert folded_embeddings(graph, np.zeros((0, *shape[-2:]), np.int8)).shape == (0, got.shape[1])  # an empty split


def test_fold_threshold_matches_bn_sign_exhaustively():
    """Every integer accumulator in range, every case (gamma > 0, < 0, == 0, thresholds outside the range)."""
    rng = np.random.default_rng(4)
    n = 400
    k = rng.normal(0, 1, n)
    k[:40] = 0.0
    mean = rng.normal(0, 30, n)
    beta = rng.normal(0, 1, n) * np.abs(k) * 30
    beta[:40] = rng.normal(0, 1, 40)
    beta[40:60] = rng.choice([-1e4, 1e4], 20) * np.abs(k[40:60])  # thresholds far outside the range
    scale, bias = rng.uniform(0.5, 2, n), rng.normal(0, 5, n)
    lo, hi = -60, 60
    thr, flip = fold_threshold(k, mean, beta, scale, bias, lo, hi)
    acc = np.arange(lo, hi + 1)[:, None]
    want = k * (scale * acc + bias - mean) + beta > 0
    got = np.where(flip == 1, acc <= thr, acc >= thr)
    np.testing.assert_array_equal(got, want)
    assert (thr >= lo - 1).all() and (thr <= hi + 1).all()


def test_rejects_models_that_are_not_bnns(tmp_path, saved_bnn):
    path, _ = saved_bnn
    with pytest.raises(BnnFoldError, match=".keras"):
        load_bnn_keras(tmp_path / "model.tflite")
    with pytest.raises(FileNotFoundError):
        load_bnn_keras(tmp_path / "missing.keras")
    other = tmp_path / "other.keras"
    other.write_bytes(path.read_bytes())
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["format"] = "something-else"
    other.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="not mcuforge-bnn-kws metadata"):
        load_bnn_keras(other)

    from mcuforge.model.keras_bnn import fold_bnn

    plain = keras.Sequential([keras.Input((FRAMES, MELS, 1)), keras.layers.Conv2D(4, 3, name="conv0"),
                              keras.layers.GlobalAveragePooling2D(name="embedding"),
                              keras.layers.Dense(4, name="head")])
    with pytest.raises(BnnFoldError, match="not a binary keyword spotter"):
        fold_bnn(plain, meta)
