"""The binary-network kernels against their numpy references ON THE TARGET (QEMU netduinoplus2).

Random single-op cases (the builders of test_kernels_binary.py) go through the generator into one
firmware per op kind, side by side. The link carries int8/float32 tensors, so a packed operand is
made and read by exact adapters built from the same kernels: an int8 -> bits encoder
(conv2d_threshold 1x1, identity weights, threshold 0: bit c = x_c >= 0) before a packed input,
and a bits -> float decoder (bconv2d_int8w 1x1, identity weights, scale 1, offset 0, no ReLU:
output c = +-1) after a packed output. The board's float outputs are compared bit for bit with
the numpy executor on the whole graph.
"""
from __future__ import annotations

import numpy as np
import pytest

from mcuforge.graph.ir import Graph, Op, Quant, Tensor
from mcuforge.ops.bconv2d import words
from mcuforge.reference.executor import run_graph
from mcuforge.target import open_target
from test_kernels_binary import CASES, random_input
from test_kernels_target import merge

PER_FIRMWARE = 5


def _identity(n: int) -> np.ndarray:
    return np.eye(n, dtype=np.int8).reshape(n, 1, 1, n)


def with_adapters(g: Graph) -> Graph:
    """Wrap a single-op case so that its graph inputs are int8/float32 and its outputs float32."""
    tensors, ops = dict(g.tensors), list(g.ops)
    op = ops[0]
    inputs, outputs = list(g.inputs), list(g.outputs)
    x = tensors[op.inputs[0]]
    if x.dtype == "uint32":
        c = int(op.attrs.get("in_channels") or op.attrs.get("channels") or tensors[op.inputs[1]].shape[3])
        n, h, w = x.shape[:3]
        tensors.update({
            "enc_x": Tensor("enc_x", (n, h, w, c), "int8", Quant(np.array([1.0], np.float32), np.array([0]))),
            "enc_w": Tensor("enc_w", (c, 1, 1, c), "int8", data=_identity(c)),
            "enc_thr": Tensor("enc_thr", (c,), "int32", data=np.zeros(c, np.int32)),
            "enc_flip": Tensor("enc_flip", (c,), "uint8", data=np.zeros(c, np.uint8)),
        })
        ops.insert(0, Op("conv2d_threshold", ["enc_x", "enc_w", "enc_thr", "enc_flip"], [x.name],
                         dict(stride=(1, 1), padding="valid"), index=-1, name="encoder"))
        inputs = ["enc_x" if n == x.name else n for n in inputs]
    y = tensors[op.outputs[0]]
    if y.dtype == "uint32":
        o = int(op.attrs["channels"]) if op.kind == "bmax_pool2d" else tensors[op.inputs[1]].shape[0]
        assert y.shape[3] == words(o)
        tensors.update({
            "dec_w": Tensor("dec_w", (o, 1, 1, o), "int8", data=_identity(o)),
            "dec_a": Tensor("dec_a", (o,), "float32", data=np.ones(o, np.float32)),
            "dec_b": Tensor("dec_b", (o,), "float32", data=np.zeros(o, np.float32)),
            "dec_y": Tensor("dec_y", tuple(y.shape[:3]) + (o,), "float32"),
        })
        ops.append(Op("bconv2d_int8w", [y.name, "dec_w", "dec_a", "dec_b"], ["dec_y"],
                      dict(stride=(1, 1), padding="valid", activation="none"), index=-1, name="decoder"))
        outputs = ["dec_y" if n == y.name else n for n in outputs]
    return Graph(g.name, tensors, ops, inputs, outputs)


@pytest.mark.qemu
@pytest.mark.parametrize("kind", sorted(CASES))
def test_binary_kernel_equals_numpy_reference_on_target(kind, tmp_path):
    rng = np.random.default_rng(sum(map(ord, kind)) + 1)
    graph = merge([with_adapters(CASES[kind](rng)) for _ in range(PER_FIRMWARE)], f"kb_{kind}")
    with open_target(graph, "netduinoplus2", workdir=tmp_path) as target:
        for trial in range(2):
            xs = [random_input(rng, graph, n) for n in graph.inputs]
            got, _ = target.run(xs)
            want = run_graph(graph, xs)
            for k, (g, w) in enumerate(zip(got, want)):
                np.testing.assert_array_equal(
                    g.reshape(w.shape), w, err_msg=f"{kind}: case {k} trial {trial} differs from the numpy reference")
            bits = np.concatenate([w.reshape(-1) for w in want])
            if kind != "mean_f32":  # decoded bits / floats are not all one value
                assert len(np.unique(bits)) > 1
