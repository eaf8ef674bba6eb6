"""Keras -> full-integer int8 TFLite, input quantization, and accuracy under the TFLM interpreter.

``evaluate_tflite`` runs the ``tflite-micro`` Python interpreter (TFLM's own reference kernels):
its accuracy is the "host int8 accuracy" that the generated firmware must reproduce exactly.
"""
from __future__ import annotations

import contextlib
import io
import sys
import warnings

import numpy as np

from ..native_log import captured_stderr

REPRESENTATIVE_MAX = 500  # calibration clips; more changes the ranges very little and costs time


def _input_shape(model) -> tuple[int, ...]:
    shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise ValueError(f"model input {model.inputs[0].shape} must have a fixed shape besides the batch")
    return tuple(int(d) for d in shape)


def to_int8_tflite(model, representative_X) -> bytes:
    """Full-integer quantization: int8 weights, activations, input and output; batch size 1.

    representative_X: float model inputs (already normalized), (clips, *input shape) or
    (clips, frames, mels) for a (frames, mels, 1) input; REPRESENTATIVE_MAX evenly spaced
    clips are used.
    """
    import keras
    import tensorflow as tf

    shape = _input_shape(model)
    X = np.asarray(representative_X, np.float32)
    if X.ndim < 1 or X.shape[0] == 0:
        raise ValueError("representative_X is empty: give a few hundred training inputs")
    if int(np.prod(X.shape[1:])) != int(np.prod(shape)):
        raise ValueError(f"representative_X has per-clip shape {X.shape[1:]}; the model takes {shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("representative_X contains NaN or inf")
    X = X.reshape((-1,) + shape)
    # Evenly spaced clips: datasets are stored class by class, so the first N would miss classes.
    X = X[np.unique(np.linspace(0, len(X) - 1, min(len(X), REPRESENTATIVE_MAX)).astype(int))]

    # A batch-1 copy of the model gives static shapes everywhere (no SHAPE/PACK ops for a
    # dynamic batch). Keras prints its export artifacts on stdout and the converter its settings
    # on fd 2: keep them off the user's screen (shown if the conversion fails).
    x_in = keras.Input(batch_shape=(1,) + shape, name="input")
    fixed = keras.Model(x_in, model(x_in, training=False))
    log: list[str] = []
    try:
        with contextlib.redirect_stdout(io.StringIO()), captured_stderr() as log, warnings.catch_warnings():
            # The input's scale comes from the representative data; TF warns that none was given.
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
            converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([x[None]] for x in X)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
            return bytes(converter.convert())
    except Exception:
        sys.stderr.write("".join(log)[-4000:])  # the converter's own account of the failure
        raise


def _interpreter(tflite_bytes: bytes):
    from tflite_micro import runtime

    with captured_stderr() as err:
        try:
            interp = runtime.Interpreter.from_bytes(bytes(tflite_bytes))
        except Exception as e:
            failure = e
        else:
            failure = None
    if failure is not None:
        raise RuntimeError(f"TFLM could not load the model: {failure}; TFLM said: {err[0].strip()}") from None
    return interp


def _quant(details: dict) -> tuple[float, int]:
    q = details["quantization_parameters"]
    scales, zps = np.asarray(q["scales"]).reshape(-1), np.asarray(q["zero_points"]).reshape(-1)
    if scales.size != 1 or details["dtype"] != np.int8:
        raise ValueError(f"expected a per-tensor int8 tensor, got {details['dtype']} with {scales.size} scales")
    return float(scales[0]), int(zps[0])


def input_details(tflite_bytes: bytes) -> tuple[tuple[int, ...], float, int]:
    """(input shape, scale, zero point) of the model's int8 input."""
    d = _interpreter(tflite_bytes).get_input_details(0)
    scale, zp = _quant(d)
    return tuple(int(s) for s in d["shape"]), scale, zp


def quantize_input(X, tflite_bytes: bytes) -> np.ndarray:
    """Float model inputs -> int8 with the model's input scale and zero point.

    q = clamp(round(x / scale) + zero_point, -128, 127), computed in float32 with rounding half
    away from zero, i.e. C's ``roundf(x / scale)``: a device that quantizes its own features this
    way gets the same bytes. Returns (clips, *input shape) int8.
    """
    shape, scale, zp = input_details(tflite_bytes)
    X = np.asarray(X, np.float32)
    per_clip = int(np.prod(shape[1:]))
    if X.size % per_clip or X.size == 0:
        raise ValueError(f"inputs of shape {X.shape} do not split into clips of the model input {shape[1:]}")
    v = X / np.float32(scale)
    q = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5)) + zp
    return np.clip(q, -128, 127).astype(np.int8).reshape((-1,) + tuple(shape[1:]))


def predict_tflite(tflite_bytes: bytes, X_int8) -> np.ndarray:
    """Raw int8 outputs (clips, classes) of the TFLM interpreter: the bytes the board must match."""
    interp = _interpreter(tflite_bytes)
    d = interp.get_input_details(0)
    shape = tuple(int(s) for s in d["shape"])
    X = np.asarray(X_int8)
    if X.dtype != np.int8:
        raise ValueError(f"X_int8 must be int8 (see quantize_input), got {X.dtype}")
    per_clip = int(np.prod(shape))
    if X.size % per_clip or X.size == 0:
        raise ValueError(f"inputs of shape {X.shape} do not split into clips of the model input {shape}")
    X = X.reshape((-1,) + shape)
    outs = []
    with captured_stderr() as err:
        try:
            for x in X:
                interp.set_input(x, 0)
                interp.invoke()
                outs.append(np.array(interp.get_output(0)).reshape(-1))
        except Exception as e:
            failure = e
        else:
            failure = None
    if failure is not None:
        raise RuntimeError(f"TFLM invoke failed: {failure}; TFLM said: {err[0].strip()}") from None
    return np.stack(outs)


def evaluate_tflite(tflite_bytes: bytes, X_int8, y) -> float:
    """Top-1 accuracy of the int8 model under the TFLM interpreter."""
    y = np.asarray(y).reshape(-1)
    out = predict_tflite(tflite_bytes, X_int8)
    if out.shape[0] != y.size:
        raise ValueError(f"{out.shape[0]} inputs but {y.size} labels")
    return float(np.mean(np.argmax(out, axis=1) == y))
