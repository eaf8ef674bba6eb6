"""The numpy reference executor is bit-exact with TFLM's interpreter on every zoo model."""
from __future__ import annotations

import numpy as np
import pytest

from models.zoo import SUPPORTED, ZOO
from mcuforge.model import load_tflite
from mcuforge.reference import run_graph, run_graph_all
from mcuforge.reference.tflm import TflmModel, tflm_arena_bytes, tflm_run

SAMPLES = 40


def random_inputs(graph, rng, kind: str = "uniform") -> list[np.ndarray]:
    out = []
    for n in graph.inputs:
        t = graph.tensor(n)
        if t.dtype == "int8":
            if kind == "uniform":
                x = rng.integers(-128, 128, t.shape)
            elif kind == "low":
                x = np.full(t.shape, -128)
            elif kind == "high":
                x = np.full(t.shape, 127)
            elif kind == "offset":  # a per-sample level + noise: survives global average pooling
                x = np.clip(np.round(rng.normal(rng.uniform(-100, 100), rng.uniform(5, 40), t.shape)), -128, 127)
            else:  # sparse spikes on the zero point: like real, mostly-quiet features
                x = np.full(t.shape, t.quant.zp)
                mask = rng.random(t.shape) < 0.1
                x[mask] = rng.integers(-128, 128, int(mask.sum()))
            out.append(x.astype(np.int8))
        else:
            scale = {"uniform": 1.0, "low": 0.01, "high": 50.0}.get(kind, 3.0)
            level = rng.uniform(-2, 2) if kind == "offset" else 0.0
            out.append((rng.normal(level, scale, t.shape)).astype(np.float32))
    return out


@pytest.mark.parametrize("name", SUPPORTED)
def test_numpy_reference_is_bit_exact_with_tflm(name):
    """Every layer's output, not only the model's: a saturated or averaged-out final output
    would hide a wrong layer."""
    data = ZOO[name]()
    graph = load_tflite(data)
    tflm = TflmModel(data, keep_all_tensors=True)
    rng = np.random.default_rng(sum(map(ord, name)))
    kinds = ["low", "high", "sparse"] + ["uniform", "offset"] * ((SAMPLES - 3) // 2)
    distinct: dict[str, set] = {n: set() for op in graph.ops for n in op.outputs}
    for i, kind in enumerate(kinds):
        x = random_inputs(graph, rng, kind)
        want = tflm.run_all(x)
        got = run_graph_all(graph, x)
        for op in graph.ops:
            for n in op.outputs:
                g, w = got[n], want[n].reshape(got[n].shape)
                distinct[n].add(g.tobytes())
                if not np.array_equal(g, w):
                    diff = np.abs(g.astype(np.float64) - w.astype(np.float64))
                    pytest.fail(f"{name} sample {i} ({kind}), layer {op.index} {op.kind} -> {n!r}: "
                                f"{int((diff > 0).sum())}/{g.size} values differ, max |diff| {diff.max()}")
    # the comparison means something only if every layer's output changes with the input
    for n, seen in distinct.items():
        assert len(seen) > len(kinds) // 4, f"{name}: tensor {n!r} hardly depends on the input"


def test_run_graph_all_gives_every_intermediate():
    graph = load_tflite(ZOO["residual"]())
    x = random_inputs(graph, np.random.default_rng(1))
    values = run_graph_all(graph, x)
    for op in graph.ops:
        for n in op.outputs:
            assert values[n].shape == graph.tensor(n).shape
    assert np.array_equal(values[graph.outputs[0]], run_graph(graph, x)[0])


def test_tflm_run_and_arena():
    data = ZOO["global_pool"]()
    graph = load_tflite(data)
    x = random_inputs(graph, np.random.default_rng(2))
    assert np.array_equal(tflm_run(data, x)[0], TflmModel(data).run(x)[0])
    arena = tflm_arena_bytes(data)
    acts = sum(t.nbytes for t in graph.activations())
    assert isinstance(arena, int) and arena > 9 * 9 * 8  # at least the largest activation
    report = TflmModel(data)
    report.run(x)
    r = report.arena_report()
    assert r["total"] == r["head"] + r["tail"] == arena and r["head"] <= acts + 1024


def test_executor_input_checks():
    graph = load_tflite(ZOO["global_pool"]())
    shape = graph.tensor(graph.inputs[0]).shape
    with pytest.raises(ValueError, match="inputs"):
        run_graph(graph, [])
    with pytest.raises(ValueError, match="needs"):
        run_graph(graph, [np.zeros((3,), np.int8)])
    with pytest.raises(ValueError, match="outside int8"):
        run_graph(graph, [np.full(shape, 300)])
    with pytest.raises(ValueError, match="must be int8"):
        run_graph(graph, [np.zeros(shape, np.float32)])
    # plain ints in range are accepted, any shape with the right size
    out = run_graph(graph, [np.zeros(int(np.prod(shape)), dtype=np.int64)])
    assert out[0].dtype == np.int8
