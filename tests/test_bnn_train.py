"""The Keras BNN backbone: binarization semantics the device must share, save/load, training."""
import json

import numpy as np
import pytest

import keras
import tensorflow as tf

from mcuforge.data import kws
from mcuforge.train.bnn import (BASE_LABELS, BNN_FEATURES, backbone_layers, binary_from_float,
                                build_bnn_kws, head_weights, load_bnn, load_bnn_data, save_bnn, train_bnn_kws,
                                word_class_targets, word_classes_of)
from mcuforge.train.bnn_layers import (BinaryConv2D, BinaryInputConv2D, ClipConstraint,
                                       SteReLU, same_pads, sign_ste)


# ---------------------------------------------------------------- a bit-domain reference


def _pack(bits: np.ndarray) -> np.ndarray:
    """[..., C] of 0/1 -> [..., ceil(C/32)] uint32: channel c -> word c//32, bit c%32."""
    c = bits.shape[-1]
    words = np.zeros(bits.shape[:-1] + ((c + 31) // 32,), np.uint32)
    for ch in range(c):
        words[..., ch // 32] |= bits[..., ch].astype(np.uint32) << np.uint32(ch % 32)
    return words


def _popcount(w: np.ndarray) -> np.ndarray:
    return np.unpackbits(w.view(np.uint8), axis=-1).sum(axis=-1).astype(np.int64)


def _bconv_bits(x: np.ndarray, kernel_pm1: np.ndarray, strides, padding: str) -> np.ndarray:
    """What the device computes: packed bits, -1 (bit 0) padding, C*KH*KW - 2*popcount(x XOR w)."""
    n, h, w, c = x.shape
    kh, kw, _, o = kernel_pm1.shape
    xb = _pack(x > 0)                                       # [n, h, w, words]
    wb = _pack(np.transpose(kernel_pm1 > 0, (3, 0, 1, 2)))  # [o, kh, kw, words]
    if padding == "same":
        (t, b), (lft, r) = same_pads(h, kh, strides[0]), same_pads(w, kw, strides[1])
        xb = np.pad(xb, [(0, 0), (t, b), (lft, r), (0, 0)])  # zero words = all channels -1
    oh, ow = (xb.shape[1] - kh) // strides[0] + 1, (xb.shape[2] - kw) // strides[1] + 1
    out = np.zeros((n, oh, ow, o), np.int64)
    for i in range(oh):
        for j in range(ow):
            win = xb[:, i * strides[0]:i * strides[0] + kh, j * strides[1]:j * strides[1] + kw]  # [n,kh,kw,W]
            diff = win[:, None] ^ wb[None]                                                 # [n,o,kh,kw,W]
            out[:, i, j] = c * kh * kw - 2 * _popcount(diff.reshape(n, o, -1, 1)).reshape(n, o, -1).sum(-1)
    return out


# ---------------------------------------------------------------- sign / STE


def test_sign_forward_is_strict_and_gradient_is_straight_through():
    x = tf.constant([-3.0, -1.0, -0.25, -0.0, 0.0, 1e-30, 0.5, 1.0, 2.5])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = sign_ste(x)
        loss = tf.reduce_sum(y * tf.range(1.0, 10.0))
    # b(0) = -1 (also -0.0): after a ReLU, "> 0" is what the device's folded threshold tests.
    np.testing.assert_array_equal(y.numpy(), [-1, -1, -1, -1, -1, 1, 1, 1, 1])
    # gradient 1 inside |x| <= 1 (boundaries included), 0 outside, times the upstream gradient
    np.testing.assert_array_equal(tape.gradient(loss, x).numpy(), [0, 2, 3, 4, 5, 6, 7, 8, 0])


def test_sign_of_relu_equals_bn_output_strictly_positive():
    y = tf.constant(np.linspace(-2, 2, 41, dtype=np.float32))
    np.testing.assert_array_equal(sign_ste(tf.nn.relu(y)).numpy() > 0, y.numpy() > 0)


def test_ste_relu_forward_is_relu_and_gradient_passes_negative_inputs():
    x = tf.constant([-2.0, -0.5, 0.0, 0.5, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = SteReLU()(x)
    np.testing.assert_array_equal(y.numpy(), tf.nn.relu(x).numpy())
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0, 1, 1, 1, 0])


# ---------------------------------------------------------------- binary convolutions


@pytest.mark.parametrize("shape,filters,k,s,padding", [
    ((2, 7, 6, 40), 5, 3, 2, "same"),    # 40 channels: two words, 24 unused bits
    ((1, 5, 9, 32), 3, 3, 1, "same"),    # exactly one word
    ((1, 8, 7, 3), 4, (3, 2), (2, 1), "same"),
    ((1, 6, 6, 33), 2, 3, 1, "valid"),
])
def test_binary_conv_equals_xor_popcount_with_minus_one_padding(shape, filters, k, s, padding):
    rng = np.random.default_rng(sum(shape))
    layer = BinaryConv2D(filters, k, strides=s, padding=padding)
    x = rng.normal(size=shape).astype(np.float32)
    x[rng.random(shape) < 0.1] = 0.0  # exact zeros must read as -1
    got = layer(x).numpy()
    kernel = np.where(layer.kernel.numpy() > 0, 1, -1)
    want = _bconv_bits(x, kernel, layer.strides, padding)
    assert got.shape == want.shape == layer.compute_output_shape(shape)
    np.testing.assert_array_equal(got, want)


def test_same_padding_inserts_minus_one_not_zero():
    layer = BinaryConv2D(1, 3, padding="same")
    layer.build((1, 4, 4, 2))
    layer.kernel.assign(np.ones((3, 3, 2, 1), np.float32))
    out = layer(np.ones((1, 4, 4, 2), np.float32)).numpy()[0, :, :, 0]
    # corner: 4 real (+1 * +1) and 5 padded (-1 * +1) taps per channel; zero padding would give 8
    assert out[0, 0] == 2 * (4 - 5)
    assert out[0, 1] == 2 * (6 - 3)
    assert out[1, 1] == 2 * 9


def test_tf_same_padding_split_puts_the_extra_row_after():
    assert same_pads(98, 3, 2) == (0, 1)
    assert same_pads(49, 3, 2) == (1, 1)
    assert same_pads(7, 3, 1) == (1, 1)
    assert same_pads(8, 2, 1) == (0, 1)
    layer = BinaryConv2D(1, 3, strides=2, padding="same")
    layer.build((1, 4, 4, 1))
    layer.kernel.assign(np.ones((3, 3, 1, 1), np.float32))
    x = np.full((1, 4, 4, 1), -1.0, np.float32)
    x[0, 2, :, 0] = 1.0  # only row 2 is +1
    # pads (0, 1): the first window covers rows 0..2 and sees row 2 (3 taps +1, 6 taps -1);
    # a (1, 0) split would cover rows -1..1 and give -9
    assert layer(x).numpy()[0, 0, 0, 0] == 3 - 6


def test_binary_input_conv_keeps_float_kernel():
    rng = np.random.default_rng(1)
    layer = BinaryInputConv2D(4, 3, strides=1, padding="same")
    x = rng.normal(size=(1, 5, 4, 6)).astype(np.float32)
    got = layer(x).numpy()
    w = layer.kernel.numpy().astype(np.float64)
    xp = np.pad(np.where(x > 0, 1.0, -1.0), [(0, 0), (1, 1), (1, 1), (0, 0)], constant_values=-1.0)
    want = np.zeros((1, 5, 4, 4))
    for i in range(5):
        for j in range(4):
            want[0, i, j] = np.tensordot(xp[0, i:i + 3, j:j + 3], w, axes=3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert len(np.unique(np.abs(w))) > 2  # not binarized


def test_latent_kernel_is_clipped_after_updates():
    assert np.array_equal(ClipConstraint()(tf.constant([-3.0, -0.5, 2.0])).numpy(), [-1, -0.5, 1])
    with pytest.raises(ValueError, match="limit"):
        ClipConstraint(0.0)
    model = keras.Sequential([keras.Input((5, 5, 3)), BinaryConv2D(4, 3, name="b"),
                              keras.layers.GlobalAveragePooling2D()])
    model.compile(optimizer=keras.optimizers.SGD(50.0), loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(8, 5, 5, 3)), rng.normal(size=(8, 4)) * 100, epochs=2, verbose=0)
    k = model.get_layer("b").kernel.numpy()
    assert np.abs(k).max() <= 1.0 and np.isclose(np.abs(k).max(), 1.0)  # it did hit the clip


def test_bad_layer_arguments_are_named():
    with pytest.raises(ValueError, match="padding"):
        BinaryConv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="filters"):
        BinaryConv2D(0, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        BinaryInputConv2D(4, (3, 0))


# ---------------------------------------------------------------- model


def test_model_layout_fits_the_stm32f405():
    model = build_bnn_kws()
    assert model.input_shape == (None, 98, 64, 1) and model.output_shape == (None, 12)
    convs = backbone_layers(model)
    assert [c["kind"] for c in convs] == ["conv2d"] + ["bconv2d"] * 3 + ["bconv2d_int8w"]
    assert model.get_layer("embedding").output.shape[1:] == (128,)
    # the float output of the last conv is the largest activation: keep it well inside 128 KB
    last = model.get_layer("conv_last").output.shape[1:]
    assert int(np.prod(last)) * 4 < 64 * 1024
    # bit-packed activations: 1 bit per channel
    first_bits = int(np.prod(model.get_layer("conv0").output.shape[1:])) // 8
    assert first_bits < 16 * 1024
    mac0 = int(np.prod(model.get_layer("conv0").output.shape[1:])) * int(np.prod(model.get_layer("conv0").kernel_size))
    assert mac0 < 3_000_000
    with pytest.raises(ValueError, match="frames, mel bands, 1"):
        build_bnn_kws((98, 64))
    with pytest.raises(ValueError, match="same length"):
        build_bnn_kws(widths=(64, 128), strides=(2,))
    with pytest.raises(ValueError, match="not a binary keyword spotter"):
        backbone_layers(build_bnn_kws(binary=False))


def test_first_conv_ignores_the_recording_level():
    model = build_bnn_kws(n_classes=3, widths=(32,), strides=(2,), first_filters=8, embedding_dim=16)
    k = model.get_layer("conv0").kernel.numpy()
    np.testing.assert_allclose(k.sum(axis=(0, 1, 2)), 0.0, atol=1e-5)
    conv0 = keras.Model(model.input, model.get_layer("conv0").output)
    x = np.random.default_rng(2).normal(size=(2, 98, 64, 1)).astype(np.float32)
    np.testing.assert_allclose(conv0(x + 3.0).numpy(), conv0(x).numpy(), atol=1e-4)
    # "same" zero padding would let the level in at the borders: the invariance needs "valid"
    same = build_bnn_kws(n_classes=3, widths=(32,), strides=(2,), first_filters=8, embedding_dim=16,
                         first_padding="same")
    conv0s = keras.Model(same.input, same.get_layer("conv0").output)
    assert not np.allclose(conv0s(x + 3.0).numpy(), conv0s(x).numpy(), atol=1e-4)


def test_binary_network_starts_from_the_float_one():
    small = dict(n_classes=3, widths=(32,), strides=(2,), first_filters=8, embedding_dim=16)
    fm, bm = build_bnn_kws(binary=False, **small), build_bnn_kws(**small)
    rng = np.random.default_rng(3)
    for layer in fm.layers:  # float kernels well outside [-1, 1]
        layer.set_weights([rng.normal(scale=5.0, size=w.shape).astype(np.float32) for w in layer.get_weights()])
    binary_from_float(fm, bm)
    fk, bk = fm.get_layer("bconv1").kernel.numpy(), bm.get_layer("bconv1").kernel.numpy()
    assert np.abs(bk).max() == pytest.approx(1.0) and np.array_equal(fk > 0, bk > 0)
    for name in ("conv0", "conv0_bn", "conv_last", "conv_last_bn", "head"):
        for a, b in zip(fm.get_layer(name).get_weights(), bm.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="do not fit"):
        binary_from_float(build_bnn_kws(binary=False, **{**small, "first_filters": 4}), bm)


def test_save_and_load_round_trip(tmp_path):
    model = build_bnn_kws(n_classes=4, widths=(32, 32), strides=(2, 2), first_filters=16, embedding_dim=24)
    x = np.random.default_rng(0).normal(size=(3, 98, 64, 1)).astype(np.float32)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, keras.utils.to_categorical([0, 1, 2], 4), epochs=1, verbose=0)  # move BN statistics
    cfg = BNN_FEATURES.with_stats(-3.5, 4.25)
    labels = ["silence", "unknown", "yes", "no"]
    path = save_bnn(model, cfg, labels, tmp_path / "bnn.keras", extra={"test_accuracy": 0.5})
    meta_file = json.loads(path.with_suffix(".json").read_text())
    loaded, meta = load_bnn(path)
    assert meta == meta_file and meta["labels"] == labels and meta["extra"] == {"test_accuracy": 0.5}
    assert meta["feature_config"]["hop"] == 160 and meta["feature_config"]["mean"] == -3.5
    assert [c["conv"] for c in meta["backbone"]] == ["conv0", "bconv1", "bconv2", "conv_last"]
    assert meta["backbone"][1] == {"kind": "bconv2d", "conv": "bconv1", "bn": "bconv1_bn", "relu": "bconv1_relu",
                                   "filters": 32, "kernel_size": [3, 3], "strides": [2, 2], "padding": "same"}
    assert meta["embedding"] == {"layer": "embedding", "dim": 24}
    assert isinstance(loaded.get_layer("bconv1"), BinaryConv2D)
    assert isinstance(loaded.get_layer("conv_last"), BinaryInputConv2D)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    W, b = head_weights(loaded)
    assert W.shape == (4, 24) and b.shape == (4,) and W.dtype == np.float32

    with pytest.raises(ValueError, match="4 classes but 3 labels"):
        save_bnn(model, cfg, labels[:3], tmp_path / "x.keras")
    with pytest.raises(ValueError, match="normalization"):
        save_bnn(model, BNN_FEATURES, labels, tmp_path / "x.keras")
    with pytest.raises(ValueError, match=".keras"):
        save_bnn(model, cfg, labels, tmp_path / "x.h5")
    path.with_suffix(".json").write_text(json.dumps({**meta, "format": "other"}))
    with pytest.raises(ValueError, match="not mcuforge-bnn-kws"):
        load_bnn(path)
    with pytest.raises(FileNotFoundError):
        load_bnn(tmp_path / "missing.keras")


# ---------------------------------------------------------------- training


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("bnn_train") / "data"
    voices = ["en-us+m1", "en-us+f2", "en-gb+m3", "en-gb-x-rp+f4", "en-029+m7", "en-gb-scotland+f1", "en-us-nyc+m2"]
    kws.build_kws_dataset(root, words=["yes", "no", "zero"], voices=voices, clips_per_voice=2, unknown_per_voice=1,
                          progress=False, noise_seconds=10, workers=2)
    return root


def test_new_keywords_are_left_out_not_called_unknown(tiny):
    labels = ["silence", "unknown", "yes", "no"]
    data, cfg = load_bnn_data(tiny, labels)
    for split in ("train", "validation", "test"):
        X, y, files = data[split]
        assert len(files) == len(y) == len(X) > 0
        assert not [f for f in files if f.startswith("zero/")]
        assert X.shape[1:] == (98, 64)
    assert cfg.hop == 160 and cfg.n_mels == 64 and cfg.normalized
    assert abs(float(data["train"][0].mean())) < 1e-3
    kept_all, _ = load_bnn_data(tiny, labels, exclude_words=())
    assert any(f.startswith("zero/") for f in kept_all["train"][2])
    with pytest.raises(ValueError, match="both labels and excluded"):
        load_bnn_data(tiny, ["silence", "unknown", "zero"])


LABELS = ["silence", "unknown", "yes", "no"]
SMALL = dict(widths=(32, 64), strides=(2, 2), first_filters=16, embedding_dim=32, batch_size=16, seed=0,
             progress=False, epochs=1, float_epochs=1)


@pytest.fixture(scope="module")
def plain(tiny):
    """One epoch of each phase on the tiny set, trained once for the tests below: (model, history, cfg)."""
    return train_bnn_kws(tiny, LABELS, **SMALL)


def test_one_epoch_training_and_save(tiny, plain, tmp_path):
    labels = LABELS
    model, history, cfg = plain
    assert model.output_shape == (None, 4) and model.input_shape == (None, 98, 64, 1)
    assert len(history["loss"]) == len(history["float_loss"]) == 1 and np.isfinite(history["loss"][0])
    assert history["best_epoch"] == 0 and history["n_train"] > 0
    # the reported accuracies, recomputed from the returned model on the split's clips
    data, _ = load_bnn_data(tiny, labels)  # the same call train_bnn_kws makes
    for split in ("validation", "test"):
        X, y, _ = data[split]
        pred = np.argmax(model.predict(X[..., None], verbose=0), 1)
        assert history[f"{split}_accuracy"] == np.mean(pred == y), split
    for layer in model.layers:
        if isinstance(layer, BinaryConv2D):
            assert np.abs(layer.kernel.numpy()).max() <= 1.0
    np.testing.assert_allclose(model.get_layer("conv0").kernel.numpy().sum(axis=(0, 1, 2)), 0.0, atol=1e-5)
    # the float twin is not returned, so its accuracy cannot be recomputed: it is at least a count
    # of the test clips (one epoch on this tiny set can be below chance, so no threshold either)
    n_test = len(data["test"][1])
    assert abs(history["float_test_accuracy"] * n_test - round(history["float_test_accuracy"] * n_test)) < 1e-9
    path = save_bnn(model, cfg, labels, tmp_path / "kws_bnn.keras")
    loaded, meta = load_bnn(path)
    assert meta["feature_config"] == cfg.to_dict() and meta["labels"] == labels
    # the same seed gives the same network
    again, _, _ = train_bnn_kws(tiny, labels, **SMALL)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert list(BASE_LABELS)[:2] == ["silence", "unknown"]


def test_word_class_targets_and_folding():
    labels = ["silence", "unknown", "yes"]
    files = ["yes/a", "bed/a", "bed/b", "cat/a", "silence/a", "dog/a"]
    y = [2, 1, 1, 1, 0, 1]
    assert word_classes_of(y, files, labels, min_clips=2) == ["bed"]
    assert word_classes_of(y, files, labels, min_clips=1) == ["bed", "cat", "dog"]
    np.testing.assert_array_equal(word_class_targets(y, files, labels, ["bed", "dog"]), [2, 3, 3, 1, 0, 4])


def test_word_classes_pretrain_then_fold_into_unknown(tmp_path_factory):
    root = tmp_path_factory.mktemp("bnn_words") / "data"
    voices = ["en-us+m1", "en-us+f2", "en-gb+m3", "en-gb-x-rp+f4", "en-029+m7", "en-gb-scotland+f1", "en-us-nyc+m2"]
    kws.build_kws_dataset(root, words=["yes", "no", "zero"], voices=voices, clips_per_voice=1, unknown_per_voice=6,
                          unknown_words=3, progress=False, noise_seconds=10, workers=2)
    model, history, cfg = train_bnn_kws(root, LABELS, word_classes=True, min_word_clips=2, **SMALL)
    data, _ = load_bnn_data(root, LABELS)
    X, y, files = data["train"]
    words = sorted({f.split("/")[0] for f, c in zip(files, y) if c == 1})
    assert words and set(words) <= set(kws.UNKNOWN_WORDS[:3])
    assert history["word_classes"] == len(words)
    # the deployed network has the labels' head only, and its reported accuracies are its own
    assert model.output_shape == (None, len(LABELS))
    for split in ("validation", "test"):
        Xs, ys, _ = data[split]
        assert history[f"{split}_accuracy"] == np.mean(np.argmax(model.predict(Xs[..., None], verbose=0), 1) == ys)
    loaded, meta = load_bnn(save_bnn(model, cfg, LABELS, tmp_path_factory.mktemp("out") / "w.keras"))
    assert meta["labels"] == LABELS and loaded.get_layer("head").units == len(LABELS)
    with pytest.raises(ValueError, match="needs an 'unknown' label"):
        train_bnn_kws(root, ["silence", "yes", "no"], word_classes=True, **SMALL)


def test_distillation_changes_the_binary_phase_targets(tiny, plain):
    labels, small = LABELS, SMALL
    plain, h0, _ = plain  # the same settings without distillation
    taught, h1, _ = train_bnn_kws(tiny, labels, distill=0.5, **small)
    # same float phase, different binary-phase targets: the float twins agree, the BNNs do not
    assert h0["float_loss"] == h1["float_loss"]
    assert any(not np.array_equal(a, b) for a, b in zip(plain.get_weights(), taught.get_weights()))
    with pytest.raises(ValueError, match="distill must be in"):
        train_bnn_kws(tiny, labels, **dict(small, float_epochs=0), distill=0.5)
    with pytest.raises(ValueError, match="distill must be in"):
        train_bnn_kws(tiny, labels, **small, distill=1.5)


def test_augmentations_mask_and_resample_as_documented():
    from mcuforge.data.augment import augment, spec_mask, speed_perturb

    X = np.random.default_rng(0).normal(size=(40, 30, 16)).astype(np.float32) + 5.0  # no zero anywhere
    # off: the clips and the generator's state are untouched (a default run trains as before)
    rng = np.random.default_rng(1)
    assert augment(X, rng, 0) is X and rng.integers(1 << 30) == np.random.default_rng(1).integers(1 << 30)
    masked = spec_mask(X, np.random.default_rng(2), freq_mask=4, time_mask=6)
    for clip, orig in zip(masked, X):
        bands, frames = np.flatnonzero((clip == 0).all(0)), np.flatnonzero((clip == 0).all(1))
        assert len(bands) <= 4 and len(frames) <= 6  # at most one band and one span, contiguous
        assert np.all(np.diff(bands) == 1) and np.all(np.diff(frames) == 1)
        keep = clip != 0
        assert np.array_equal(clip[keep], orig[keep])
    assert (masked == 0).any() and masked.shape == X.shape
    # speed: a ramp over time stays a ramp about the middle frame, its slope within 1 +- speed
    ramp = np.broadcast_to(np.arange(30, dtype=np.float32)[None, :, None], (200, 30, 2)).copy()
    fast = speed_perturb(ramp, np.random.default_rng(3), 0.1)
    slopes = (fast[:, 20, 0] - fast[:, 10, 0]) / 10
    assert np.all((slopes >= 0.9 - 1e-5) & (slopes <= 1.1 + 1e-5)) and slopes.std() > 0.02
    assert np.allclose(fast[:, 14:16].mean(), 14.5, atol=0.2)
    with pytest.raises(ValueError, match="speed"):
        from mcuforge.train.bnn import fit_bnn
        fit_bnn(X, np.zeros(40, int), X, np.zeros(40, int), 2, speed=0.6)
