"""Test model zoo: small Keras 3 models converted to int8 TFLite, covering every supported op
and option, plus models mcuforge must refuse (an unsupported op, weights too big for a board).

``ZOO[name]()`` returns the .tflite bytes **checked in** under ``tests/models/tflite/``: the
converter's output depends on the TensorFlow/Keras version and on process-global Keras names,
so bytes regenerated per virtualenv made the fuzz cases differ from machine to machine. The
builders below stay the source of those files; ``tflite/MANIFEST.json`` records each file's
sha256 and its builder's source hash, and a test fails when a builder changed without its
file being regenerated:

    .venv/bin/python tests/models/zoo.py [NAME ...]     # rewrite the files (all, or NAME ...)
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import io
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

FIXTURES = Path(__file__).resolve().parent / "tflite"
MANIFEST = FIXTURES / "MANIFEST.json"


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    return tf, keras


def builder_hash(build: Callable[[], bytes]) -> str:
    """Hash of what makes a model: the builder's source, its bound arguments and the shared
    helpers of this file (everything above the builders)."""
    fn = build.func if isinstance(build, functools.partial) else build
    args = sorted(build.keywords.items()) if isinstance(build, functools.partial) else []
    source = Path(__file__).read_text()
    helpers = source[source.index("def _randomize"):source.index("# " + "-" * 64 + " supported models")]
    text = inspect.getsource(fn) + repr(args) + helpers
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fixture(name: str) -> bytes:
    path = FIXTURES / f"{name}.tflite"
    if not path.is_file():
        raise FileNotFoundError(f"zoo model '{name}' has no checked-in file {path}: "
                                f"run '.venv/bin/python tests/models/zoo.py {name}'")
    return path.read_bytes()


def _randomize(model, seed: int) -> None:
    """Non-zero biases and non-trivial batch-norm statistics, so every term is exercised."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        names = [w.path.split("/")[-1] for w in layer.weights]
        new = []
        for name, w in zip(names, weights):
            if name == "bias":
                w = rng.normal(0, 0.2, w.shape)
            elif name == "beta":
                w = rng.normal(0, 0.3, w.shape)
            elif name == "gamma":
                w = rng.uniform(0.5, 1.5, w.shape)
            new.append(np.asarray(w, dtype=np.float32))
        layer.set_weights(new)


def sample_inputs(rng, input_shape, n: int, input_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Float inputs with a per-sample level plus noise of per-sample spread: pooled features then
    vary between samples as with real data, so calibrated ranges are not degenerate."""
    lo, hi = input_range
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    out = []
    for _ in range(n):
        level = mid + rng.uniform(-0.6, 0.6) * half
        out.append(np.clip(rng.normal(level, rng.uniform(0.1, 0.6) * half, input_shape), lo, hi))
    return np.asarray(out, dtype=np.float32)


def _calibrate_batchnorm(model, input_shape, seed: int, input_range) -> None:
    """Set batch-norm moving statistics to the statistics of sample data, as training would
    (random statistics make deep nets' outputs input-independent)."""
    _, keras = _keras()
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:
        return
    x = sample_inputs(np.random.default_rng(seed + 500), input_shape, 64, input_range)
    for bn in bns:  # layer by layer: each sees inputs normalized by the ones before it
        mean_var = keras.Model(model.inputs, bn.input).predict(x, verbose=0)
        axes = tuple(range(mean_var.ndim - 1))
        gamma, beta, _, _ = bn.get_weights()
        bn.set_weights([gamma, beta, mean_var.mean(axes), mean_var.var(axes) + 1e-3])


def convert(model, input_shape, seed: int = 0, int8_io: bool = True, per_channel: bool = True,
            samples: int = 32, input_range: tuple[float, float] = (-1.0, 1.0)) -> bytes:
    """Full-integer int8 conversion with a seeded representative dataset."""
    tf, _ = _keras()
    rng = np.random.default_rng(seed + 1000)
    _calibrate_batchnorm(model, input_shape, seed, input_range)

    def representative():
        for x in sample_inputs(rng, input_shape, samples, input_range):
            yield [x[None]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)  # (its export prints to stdout: silenced)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    if not per_channel:
        conv._experimental_disable_per_channel = True
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bytes(conv.convert())


def _build(seed: int, input_shape, body: Callable, batch1: bool = False) -> object:
    """``batch1`` fixes the batch size to 1: the converter then fuses dilated convolutions
    (with a dynamic batch it emits SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND and a separate bias ADD)."""
    _, keras = _keras()
    keras.utils.set_random_seed(seed)
    inp = keras.Input(input_shape, batch_size=1 if batch1 else None)
    model = keras.Model(inp, body(keras.layers, inp))
    _randomize(model, seed)
    return model


# ---------------------------------------------------------------- supported models


def conv_variants(per_channel: bool = True, seed: int = 1) -> bytes:
    """Conv2D: strides 1/2, same/valid, dilation 2, relu/relu6/none, with and without bias,
    even and non-square kernels (odd padding), a 1x1 pointwise conv."""
    shape = (15, 13, 3)

    def body(L, x):
        x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
        x = L.Conv2D(8, 3, strides=2, padding="valid", activation="relu6", use_bias=False)(x)
        x = L.Conv2D(6, 3, padding="same", dilation_rate=2)(x)
        x = L.Conv2D(6, (2, 4), strides=(1, 2), padding="same", activation="relu")(x)
        x = L.Conv2D(5, 1, padding="valid")(x)
        return x

    return convert(_build(seed, shape, body, batch1=True), shape, seed, per_channel=per_channel)


def depthwise(seed: int = 2) -> bytes:
    """DepthwiseConv2D: depth multiplier 1 and 2, stride 2, dilation 2, same/valid, relu6."""
    shape = (12, 11, 4)

    def body(L, x):
        x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        x = L.DepthwiseConv2D(3, strides=2, padding="valid", depth_multiplier=2, activation="relu6")(x)
        x = L.DepthwiseConv2D(3, padding="same", dilation_rate=2, use_bias=False)(x)
        x = L.DepthwiseConv2D((2, 3), strides=(2, 1), padding="same", depth_multiplier=2)(x)
        return x

    return convert(_build(seed, shape, body, batch1=True), shape, seed)


def dense_flatten(seed: int = 3) -> bytes:
    """Conv -> Flatten (Keras 3: SHAPE/STRIDED_SLICE/PACK/RESHAPE) -> Dense relu -> Dense without
    bias (a 2-input FULLY_CONNECTED) -> Softmax."""
    shape = (8, 8, 2)

    def body(L, x):
        x = L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)
        x = L.Flatten()(x)
        x = L.Dense(16, activation="relu")(x)
        x = L.Dense(10, use_bias=False)(x)
        return L.Softmax()(x)

    return convert(_build(seed, shape, body), shape, seed)


def dense_per_tensor(seed: int = 4) -> bytes:
    """Dense layers with per-tensor weight scales (and a per-tensor conv)."""
    shape = (4, 4, 3)

    def body(L, x):
        x = L.Conv2D(4, 3, padding="valid", activation="relu")(x)
        x = L.Flatten()(x)
        x = L.Dense(12, activation="relu6")(x)
        return L.Dense(5)(x)

    return convert(_build(seed, shape, body), shape, seed, per_channel=False)


def pooling(seed: int = 5) -> bytes:
    """AveragePooling2D / MaxPooling2D with same and valid padding, odd sizes."""
    shape = (13, 11, 4)

    def body(L, x):
        x = L.Conv2D(6, 3, padding="same", activation="relu")(x)
        x = L.AveragePooling2D(2, padding="same")(x)
        x = L.MaxPooling2D(3, strides=2, padding="valid")(x)
        x = L.Conv2D(6, 1)(x)
        x = L.MaxPooling2D(2, padding="same")(x)
        return L.AveragePooling2D((2, 1), strides=1, padding="valid")(x)

    return convert(_build(seed, shape, body), shape, seed)


def global_pool(seed: int = 6) -> bytes:
    """GlobalAveragePooling2D (MEAN over H, W) -> Dense -> Softmax."""
    shape = (9, 9, 3)

    def body(L, x):
        x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
        x = L.GlobalAveragePooling2D()(x)
        x = L.Dense(4)(x)
        return L.Softmax()(x)

    return convert(_build(seed, shape, body), shape, seed)


def residual(seed: int = 7) -> bytes:
    """Residual Add of two branches with different scales, then ReLU6 (fused)."""
    shape = (8, 8, 4)

    def body(L, x):
        a = L.Conv2D(8, 3, padding="same", activation="relu")(x)
        b = L.Conv2D(8, 3, padding="same")(a)
        s = L.Add()([a, b])
        s = L.ReLU(max_value=6.0)(s)
        c = L.DepthwiseConv2D(3, padding="same")(s)
        return L.Add()([s, c])

    return convert(_build(seed, shape, body), shape, seed)


def float_io(seed: int = 8) -> bytes:
    """float32 input and output: the converter adds QUANTIZE and DEQUANTIZE."""
    shape = (6, 6, 2)

    def body(L, x):
        x = L.Conv2D(4, 3, padding="same", activation="relu")(x)
        x = L.GlobalAveragePooling2D()(x)
        x = L.Dense(3)(x)
        return L.Softmax()(x)

    return convert(_build(seed, shape, body), shape, seed, int8_io=False)


def ds_cnn_kws(channels: int = 64, blocks: int = 4, classes: int = 12, seed: int = 9) -> bytes:
    """DS-CNN keyword spotting (Zhang et al. 'Hello Edge'): 49x40x1 MFCC input, a 10x4 strided conv,
    depthwise-separable blocks with batch norm, global average pooling, Dense, Softmax."""
    shape = (49, 40, 1)

    def body(L, x):
        x = L.Conv2D(channels, (10, 4), strides=2, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
        for _ in range(blocks):
            x = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
            x = L.BatchNormalization()(x)
            x = L.ReLU()(x)
            x = L.Conv2D(channels, 1, use_bias=False)(x)
            x = L.BatchNormalization()(x)
            x = L.ReLU()(x)
        x = L.GlobalAveragePooling2D()(x)
        x = L.Dense(classes)(x)
        return L.Softmax()(x)

    return convert(_build(seed, shape, body), shape, seed, input_range=(-3.0, 3.0))


def uno_mlp(seed: int = 14) -> bytes:
    """A small MLP for the Arduino Uno: 12 sensor features -> 16 -> 8 -> 4 classes, softmax."""
    shape = (12,)

    def body(L, x):
        x = L.Dense(16, activation="relu")(x)
        x = L.Dense(8, activation="relu")(x)
        x = L.Dense(4)(x)
        return L.Softmax()(x)

    return convert(_build(seed, shape, body), shape, seed)


def uno_conv1d(seed: int = 15) -> bytes:
    """A 1-D conv net for the Uno on an accelerometer window (32 steps x 3 axes, as a 32x1x3
    image): two (k x 1) convs, max pooling, global average pooling, Dense, softmax."""
    shape = (32, 1, 3)

    def body(L, x):
        x = L.Conv2D(8, (5, 1), activation="relu")(x)
        x = L.MaxPooling2D((2, 1))(x)
        x = L.Conv2D(8, (3, 1), padding="same", activation="relu")(x)
        x = L.GlobalAveragePooling2D()(x)
        x = L.Dense(4)(x)
        return L.Softmax()(x)

    return convert(_build(seed, shape, body), shape, seed)


def uno_conv2d(seed: int = 16) -> bytes:
    """A 2-D conv net for the Uno on an 8x8 thermal-sensor frame: conv, max pooling, a strided
    depthwise conv, Flatten, Dense, softmax."""
    shape = (8, 8, 1)

    def body(L, x):
        x = L.Conv2D(4, 3, padding="same", activation="relu")(x)
        x = L.MaxPooling2D(2)(x)
        x = L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="relu6")(x)
        x = L.Flatten()(x)
        x = L.Dense(3)(x)
        return L.Softmax()(x)

    return convert(_build(seed, shape, body), shape, seed)


# ---------------------------------------------------------------- models to refuse


def unsupported_tanh(seed: int = 10) -> bytes:
    """A TANH activation layer (int8 TANH op), which mcuforge has no kernel for."""
    shape = (8,)

    def body(L, x):
        x = L.Dense(8)(x)
        x = L.Activation("tanh")(x)
        return L.Dense(4)(x)

    return convert(_build(seed, shape, body), shape, seed)


def too_big(units: int = 1100, depth: int = 1024, seed: int = 11) -> bytes:
    """A Dense layer with ~1.1 MB of int8 weights: more than any supported board's flash."""
    shape = (depth,)

    def body(L, x):
        return L.Dense(units)(x)

    return convert(_build(seed, shape, body), shape, seed, samples=8)


def float32_conv(seed: int = 12) -> bytes:
    """A float32 (not quantized) model: valid TFLite, but mcuforge compiles int8 models only."""
    tf, _ = _keras()
    shape = (6, 6, 2)

    def body(L, x):
        return L.Conv2D(3, 3, padding="same")(x)

    conv = tf.lite.TFLiteConverter.from_keras_model(_build(seed, shape, body))
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bytes(conv.convert())


def dilated_dynamic_batch(seed: int = 13) -> bytes:
    """A dilated conv in a dynamic-batch model: converts to SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND."""
    shape = (8, 8, 2)

    def body(L, x):
        return L.Conv2D(3, 3, padding="same", dilation_rate=2)(x)

    return convert(_build(seed, shape, body), shape, seed)


def _convert_quiet(conv) -> bytes:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bytes(conv.convert())


def lstm_int8(seed: int = 14) -> bytes:
    """An int8 LSTM as TFLM's mnist_lstm example makes it: one fused UNIDIRECTIONAL_SEQUENCE_LSTM
    with variable (state) tensors. Keras 2 (tf-keras): Keras 3's LSTM converts to a WHILE loop, and
    its int8 calibration crashes the converter of TF 2.21."""
    tf, _ = _keras()
    import tf_keras

    shape = (6, 4)
    tf_keras.utils.set_random_seed(seed)
    inp = tf_keras.Input(shape, batch_size=1)
    x = tf_keras.layers.LSTM(8, return_sequences=True)(inp)
    model = tf_keras.Model(inp, tf_keras.layers.Dense(3)(tf_keras.layers.Flatten()(x)))
    rng = np.random.default_rng(seed + 1000)

    def representative():
        for x in sample_inputs(rng, shape, 16):
            yield [x[None]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    return _convert_quiet(conv)


def int16x8_conv(seed: int = 15) -> bytes:
    """16x8 quantization (int16 activations, int8 weights, int64 biases), the scheme of TFLM's
    SeaNet integration-test models: valid TFLite, refused for its scheme."""
    tf, _ = _keras()
    shape = (6, 6, 2)

    def body(L, x):
        x = L.Conv2D(4, 3, padding="same", activation="relu")(x)
        return L.Dense(3)(L.Flatten()(x))

    rng = np.random.default_rng(seed + 1000)

    def representative():
        for x in sample_inputs(rng, shape, 16):
            yield [x[None]]

    conv = tf.lite.TFLiteConverter.from_keras_model(_build(seed, shape, body, batch1=True))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int16
    return _convert_quiet(conv)


BUILDERS: dict[str, Callable[[], bytes]] = {
    "conv_variants": conv_variants,
    "conv_per_tensor": functools.partial(conv_variants, per_channel=False),
    "depthwise": depthwise,
    "dense_flatten": dense_flatten,
    "dense_per_tensor": dense_per_tensor,
    "pooling": pooling,
    "global_pool": global_pool,
    "residual": residual,
    "float_io": float_io,
    "ds_cnn_kws": ds_cnn_kws,
    "uno_mlp": uno_mlp,
    "uno_conv1d": uno_conv1d,
    "uno_conv2d": uno_conv2d,
    "unsupported_tanh": unsupported_tanh,
    "too_big": too_big,
    "float32_conv": float32_conv,
    "dilated_dynamic_batch": dilated_dynamic_batch,
    "lstm_int8": lstm_int8,
    "int16x8_conv": int16x8_conv,
}
# Models every back end must compile and match TFLM on; the rest must be refused.
REFUSED = ["unsupported_tanh", "too_big", "float32_conv", "dilated_dynamic_batch", "lstm_int8", "int16x8_conv"]
SUPPORTED = [n for n in BUILDERS if n not in REFUSED]

# What the tests call: the checked-in bytes, never a fresh conversion.
ZOO: dict[str, Callable[[], bytes]] = {name: functools.partial(fixture, name) for name in BUILDERS}


def regenerate(names: list[str]) -> None:
    """Convert each model in a fresh Keras session (stable tensor names) and record it."""
    _, keras = _keras()
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    FIXTURES.mkdir(exist_ok=True)
    for name in names:
        keras.backend.clear_session()
        data = BUILDERS[name]()
        (FIXTURES / f"{name}.tflite").write_bytes(data)
        manifest[name] = {"sha256": hashlib.sha256(data).hexdigest(), "builder": builder_hash(BUILDERS[name])}
        print(f"{name}: {len(data):,} bytes")
    MANIFEST.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")


if __name__ == "__main__":
    unknown = [n for n in sys.argv[1:] if n not in BUILDERS]
    if unknown:
        sys.exit(f"unknown zoo model(s): {', '.join(unknown)}; known: {', '.join(BUILDERS)}")
    regenerate(sys.argv[1:] or list(BUILDERS))
