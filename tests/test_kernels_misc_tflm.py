"""avg/max pooling, mean, add, softmax, quantize, dequantize, reshape: numpy references == TFLM.

Two sources of single-op int8 models, both run in the ``tflite_micro`` Python interpreter:

- flatbuffers written by tests/tflite_single_op.py from the random IR graphs of tests/test_kernels_misc.py, so that
  many quantization parameters (zero points at the extremes, equal and different scales, any
  beta) are covered, each with many random inputs -- softmax and average pooling included;
- Keras 3 models converted by TFLiteConverter (full int8, seeded representative data, float
  I/O so QUANTIZE and DEQUANTIZE are in the graph), read back with mcuforge's TFLite reader.

Every comparison is bit-exact (floats compared as bits).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from mcuforge import ops
from mcuforge.graph.ir import Graph
from tflite_single_op import interpreter, run_tflm, tflm
from test_kernels_misc import (add_case, dequantize_case, mean_case, pool_case, quantize_case, random_input,
                               requantize_case, single_op, softmax_case, tensor)

def assert_bit_exact(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype, what
    if want.dtype == np.float32:
        got, want = got.view(np.uint32), want.view(np.uint32)
    np.testing.assert_array_equal(got.reshape(-1), want.reshape(-1), err_msg=what)


def check_against_tflm(graphs: list[Graph], rng, inputs_per_model: int) -> int:
    compared = 0
    for i, g in enumerate(graphs):
        op = g.ops[0]
        interp = interpreter(g)
        mod = ops.get(op.kind)
        mod.prepare(op, g)
        for _ in range(inputs_per_model):
            xs = [random_input(rng, g, n) for n in g.inputs]
            want = run_tflm(interp, xs)
            got = mod.reference(op, g, xs)[0]
            assert_bit_exact(got, want, f"{op.kind} model {i} {op.attrs}")
            compared += 1
    return compared


# ---------------------------------------------------------------- random single-op models


def test_softmax_bit_exact_with_tflm():
    rng = np.random.default_rng(101)
    assert check_against_tflm([softmax_case(rng) for _ in range(30)], rng, inputs_per_model=30) == 900


@pytest.mark.parametrize("kind", ["avg_pool2d", "max_pool2d"])
def test_pooling_bit_exact_with_tflm(kind):
    rng = np.random.default_rng(102 if kind == "avg_pool2d" else 103)
    n = 30 if kind == "avg_pool2d" else 15
    assert check_against_tflm([pool_case(rng, kind) for _ in range(n)], rng, inputs_per_model=n) == n * n


def test_mean_bit_exact_with_tflm():
    # TFLM reduces over at most 2 axes (kMaxNumberOfReducedAxis); equal and different quantization both.
    rng = np.random.default_rng(104)
    graphs = [mean_case(rng, max_axes=2) for _ in range(30)]
    equal = sum(g.tensors["x"].quant.s == g.tensors["y"].quant.s and g.tensors["x"].quant.zp == g.tensors["y"].quant.zp
                for g in graphs)
    assert equal >= 5
    assert check_against_tflm(graphs, rng, inputs_per_model=8) == 240


def test_add_bit_exact_with_tflm():
    rng = np.random.default_rng(105)
    assert check_against_tflm([add_case(rng) for _ in range(30)], rng, inputs_per_model=8) == 240


def test_quantize_requantize_dequantize_bit_exact_with_tflm():
    rng = np.random.default_rng(106)
    graphs = [quantize_case(rng) for _ in range(15)] + [requantize_case(rng) for _ in range(15)] + \
             [dequantize_case(rng) for _ in range(15)]
    assert check_against_tflm(graphs, rng, inputs_per_model=6) == 270


def test_quantize_ties_with_tflm():
    g = single_op("quantize", [tensor("x", (1, 10), "float32")], tensor("y", (1, 10), scale=0.5, zp=3))
    x = np.array([[-1.25, -0.25, 0.25, 1.25, -0.75, 0.75, 1e6, -1e6, 63.0, -65.5]], np.float32)
    want = run_tflm(interpreter(g), [x])
    assert_bit_exact(ops.get("quantize").reference(g.ops[0], g, [x])[0], want, "quantize ties")


def test_reshape_with_tflm():
    g = single_op("reshape", [tensor("x", (1, 3, 4, 2), scale=0.1, zp=5)], tensor("y", (1, 24), scale=0.1, zp=5))
    x = np.random.default_rng(0).integers(-128, 128, (1, 3, 4, 2)).astype(np.int8)
    want = run_tflm(interpreter(g), [x])
    assert_bit_exact(ops.get("reshape").reference(g.ops[0], g, [x])[0], want, "reshape")


# ---------------------------------------------------------------- Keras 3 + TFLiteConverter models


def _keras_models():
    import keras

    def single(shape, layer):
        x = keras.Input(shape, batch_size=1)
        return keras.Model(x, layer(x)), [shape]

    a, b = keras.Input((4, 4, 6), batch_size=1), keras.Input((4, 4, 6), batch_size=1)
    return {
        "avg_pool_valid": single((8, 8, 3), keras.layers.AveragePooling2D(3, strides=2, padding="valid")),
        "avg_pool_same": single((7, 9, 4), keras.layers.AveragePooling2D((3, 2), strides=2, padding="same")),
        "max_pool_same": single((7, 7, 5), keras.layers.MaxPooling2D(3, strides=2, padding="same")),
        "global_avg_pool": single((6, 6, 8), keras.layers.GlobalAveragePooling2D()),
        "mean_keepdims": single((5, 7, 3), keras.layers.GlobalAveragePooling2D(keepdims=True)),
        "add": (keras.Model([a, b], keras.layers.Add()([a, b])), [(4, 4, 6), (4, 4, 6)]),
        "softmax": single((10,), keras.layers.Softmax()),
        "flatten": single((4, 4, 2), keras.layers.Flatten()),
    }


@pytest.fixture(scope="session")
def keras_tflite_models() -> dict[str, tuple[bytes, list[tuple]]]:
    """Converted once per test session: name -> (.tflite bytes, input shapes without batch)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    out = {}
    for i, (name, (model, shapes)) in enumerate(_keras_models().items()):
        rng = np.random.default_rng(200 + i)
        # Per-input ranges differ so that e.g. ADD's two scales differ.
        spreads = [1.0 + 2.0 * k for k in range(len(shapes))]

        def representative(shapes=shapes, rng=rng, spreads=spreads):
            for _ in range(32):
                yield [(rng.normal(0.3, s, (1,) + shape)).astype(np.float32) for shape, s in zip(shapes, spreads)]

        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        out[name] = (converter.convert(), shapes)
    return out


def run_reference(graph: Graph, inputs: list[np.ndarray]) -> np.ndarray:
    values = dict(zip(graph.inputs, inputs))
    for op in graph.ops:
        results = ops.get(op.kind).reference(op, graph, [values[n] for n in op.inputs])
        values.update(zip(op.outputs, results))
    return values[graph.outputs[0]]


EXPECTED_KINDS = {
    "avg_pool_valid": "avg_pool2d", "avg_pool_same": "avg_pool2d", "max_pool_same": "max_pool2d",
    "global_avg_pool": "mean", "mean_keepdims": "mean", "add": "add", "softmax": "softmax", "flatten": "reshape",
}


@pytest.mark.filterwarnings("ignore:Statistics for quantized inputs")
@pytest.mark.parametrize("name", sorted(EXPECTED_KINDS))
def test_keras_converted_model_bit_exact_with_tflm(keras_tflite_models, name):
    from mcuforge.model.tflite import load_tflite

    buf, shapes = keras_tflite_models[name]
    graph = load_tflite(buf)
    kinds = [op.kind for op in graph.ops]
    assert EXPECTED_KINDS[name] in kinds and kinds[0] == "quantize" and kinds[-1] == "dequantize", kinds
    interp = tflm.Interpreter.from_bytes(buf)
    rng = np.random.default_rng(300)
    for k in range(20):
        xs = [rng.normal(0.3, 1.0 + 2.0 * j + (k % 3), (1,) + shape).astype(np.float32) for j, shape in enumerate(shapes)]
        want = run_tflm(interp, xs)
        assert_bit_exact(run_reference(graph, xs), want, f"{name} input {k}")
