"""Every C kernel against its numpy reference and TFLM ON THE TARGET: random single-op cases,
compiled by the generator into one firmware per op (the cases side by side as independent
subgraphs), run on QEMU; each case's board output must also equal TFLM running that case as a
one-op .tflite (tests/tflite_single_op.py) on the host."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from mcuforge.graph.ir import Graph
from mcuforge.reference.executor import run_graph
from mcuforge.target import open_target
from test_kernels_conv import conv_case, fc_case
from test_kernels_misc import (add_case, dequantize_case, mean_case, pool_case, quantize_case, random_input,
                               requantize_case, softmax_case)
from tflite_single_op import interpreter, run_tflm

CASES = {
    "conv2d": lambda rng: conv_case(rng, "conv2d")[0],
    "conv2d_extreme_zp": lambda rng: conv_case(rng, "conv2d", extreme=True)[0],
    "depthwise_conv2d": lambda rng: conv_case(rng, "depthwise_conv2d")[0],
    "fully_connected": lambda rng: fc_case(rng)[0],
    "avg_pool2d": lambda rng: pool_case(rng, "avg_pool2d"),
    "max_pool2d": lambda rng: pool_case(rng, "max_pool2d"),
    "mean": mean_case,
    "add": add_case,
    "softmax": softmax_case,
    "quantize": quantize_case,
    "requantize": requantize_case,
    "dequantize": dequantize_case,
}
PER_FIRMWARE = 5


def merge(graphs: list[Graph], name: str) -> Graph:
    """Independent graphs side by side in one graph (tensor names prefixed per case)."""
    tensors, ops, inputs, outputs = {}, [], [], []
    for i, g in enumerate(graphs):
        g = copy.deepcopy(g)
        ren = {n: f"c{i}_{n}" for n in g.tensors}
        for n, t in g.tensors.items():
            t.name = ren[n]
            tensors[ren[n]] = t
        for op in g.ops:
            op.inputs = [ren[n] if n else n for n in op.inputs]
            op.outputs = [ren[n] for n in op.outputs]
            ops.append(op)
        inputs += [ren[n] for n in g.inputs]
        outputs += [ren[n] for n in g.outputs]
    return Graph(name, tensors, ops, inputs, outputs, source_hash="")


@pytest.mark.qemu
@pytest.mark.parametrize("case", sorted(CASES))
def test_c_kernel_equals_numpy_reference_on_target(case, tmp_path):
    rng = np.random.default_rng(sum(map(ord, case)))
    cases = [CASES[case](rng) for _ in range(PER_FIRMWARE)]
    graph = merge(cases, f"k_{case}")
    tflm = [interpreter(g) for g in cases]
    with open_target(graph, "netduinoplus2", workdir=tmp_path) as target:
        for trial in range(2):
            xs = [random_input(rng, graph, n) for n in graph.inputs]
            got, _ = target.run(xs)
            want = run_graph(graph, xs)
            inputs = iter(xs)
            for k, (g, w, c) in enumerate(zip(got, want, cases)):
                np.testing.assert_array_equal(
                    g.reshape(w.shape), w, err_msg=f"{case}: case {k} trial {trial} differs from the numpy reference")
                oracle = run_tflm(tflm[k], [next(inputs) for _ in c.inputs])
                np.testing.assert_array_equal(
                    g.reshape(oracle.shape), oracle, err_msg=f"{case}: case {k} trial {trial} differs from TFLM")


def test_quantize_inputs_are_ties_at_each_cases_own_scale():
    """In a merged graph every quantize case gets inputs scaled by its own output scale, a third
    of them exact rounding ties (x / scale == m + 0.5 in float32), not case 0's scale."""
    rng = np.random.default_rng(5)
    cases = [quantize_case(rng) for _ in range(PER_FIRMWARE)]
    assert len({g.tensors["y"].quant.s for g in cases}) == PER_FIRMWARE
    graph = merge(cases, "ties")
    for k, name in enumerate(graph.inputs):
        x = random_input(rng, graph, name).reshape(-1)
        v = x / np.float32(cases[k].tensors["y"].quant.s)
        ties = np.count_nonzero(v - np.floor(v) == np.float32(0.5))
        assert ties >= x.size // 3, f"case {k}: {ties} of {x.size} inputs are ties"
