"""Binary convolution vs int8 convolution of the same shape, on the emulated board.

Each layer is generated into its own firmware and run through the normal link; the per-layer
profile gives the instructions of the layer alone (emulated instructions under QEMU, not hardware
cycles). Flash is the layer's weight bytes. Two int8 baselines, measured in the same run:

- ``conv2d``: the int8 conv an int8 TFLite model gets from mcuforge. On a core with the DSP
  extension (netduinoplus2's Cortex-M4) the generator picks conv2d_dsp (firmware/kernels/
  conv2d_dsp.c: SXTB16/SMLAD, TFLM's requantization), mcuforge's best int8 conv: the fair
  baseline, and the binary conv's first speed-up column;
- ``conv2d_threshold`` (SMLAD dot products, firmware/kernels/mf_dot.h): the BNN's own int8 conv
  (its first layer), with a threshold instead of TFLite's requantization at the end. Since the
  DSP kernels it is the slower of the two (measured 2.8x the instructions of conv2d_dsp here).
"""
from __future__ import annotations

import numpy as np

from mcuforge.graph.ir import Graph, Op, Quant, Tensor
from mcuforge.ops import conv2d, conv2d_threshold
from mcuforge.ops.bconv2d import pack_bits, words
from mcuforge.target import open_target

SHAPES = [  # (H, W, C_in, C_out, K)
    (25, 16, 64, 64, 3),
    (13, 8, 128, 128, 3),
]


def _q(scale, zp, axis=0) -> Quant:
    return Quant(np.asarray(scale, np.float32).reshape(-1), np.asarray(zp, np.int64).reshape(-1), axis)


def int8_conv(h, w, cin, cout, k, rng) -> Graph:
    wt = rng.integers(-127, 128, (cout, k, k, cin)).astype(np.int8)
    ws = rng.uniform(0.002, 0.01, cout).astype(np.float32)
    tensors = {
        "x": Tensor("x", (1, h, w, cin), "int8", _q([0.02], [0])),
        "w": Tensor("w", wt.shape, "int8", _q(ws, np.zeros(cout)), wt),
        "b": Tensor("b", (cout,), "int32", _q(0.02 * ws, np.zeros(cout)), np.zeros(cout, np.int32)),
        "y": Tensor("y", (1, h, w, cout), "int8", _q([0.05], [0])),
    }
    op = Op("conv2d", ["x", "w", "b"], ["y"], dict(stride=(1, 1), dilation=(1, 1), padding="same", activation="relu"))
    g = Graph("int8_conv", tensors, [op], ["x"], ["y"])
    conv2d.prepare(op, g)
    return g


def int8_smlad_conv(h, w, cin, cout, k, rng) -> Graph:
    """The same int8 MACs in conv2d_threshold (SMLAD dot products), thresholds mid-range."""
    wt = rng.integers(-127, 128, (cout, k, k, cin)).astype(np.int8)
    lo, hi = conv2d_threshold.accumulator_range(wt, 0, None)
    tensors = {
        "x": Tensor("x", (1, h, w, cin), "int8", _q([0.02], [0])),
        "w": Tensor("w", wt.shape, "int8", _q(rng.uniform(0.002, 0.01, cout), np.zeros(cout)), wt),
        "thr": Tensor("thr", (cout,), "int32", data=((lo + hi) // 2).astype(np.int32)),
        "flip": Tensor("flip", (cout,), "uint8", data=np.zeros(cout, np.uint8)),
        "y": Tensor("y", (1, h, w, words(cout)), "uint32"),
    }
    op = Op("conv2d_threshold", ["x", "w", "thr", "flip"], ["y"], dict(stride=(1, 1), padding="same"))
    g = Graph("int8_smlad_conv", tensors, [op], ["x"], ["y"])
    conv2d_threshold.prepare(op, g)
    return g


def binary_conv(h, w, cin, cout, k, rng) -> Graph:
    bits = rng.integers(0, 2, (cout, k, k, cin))
    n = k * k * cin
    tensors = {
        "x": Tensor("x", (1, h, w, words(cin)), "uint32"),
        "w": Tensor("w", (cout, k, k, words(cin)), "uint32", data=pack_bits(bits)),
        "thr": Tensor("thr", (cout,), "int32", data=rng.integers(-n // 4, n // 4, cout).astype(np.int32)),
        "flip": Tensor("flip", (cout,), "uint8", data=np.zeros(cout, np.uint8)),
        "y": Tensor("y", (1, h, w, words(cout)), "uint32"),
    }
    op = Op("bconv2d", ["x", "w", "thr", "flip"], ["y"], dict(in_channels=cin, stride=(1, 1), padding="same"))
    return Graph("binary_conv", tensors, [op], ["x"], ["y"])


def layer_cost(graph: Graph, board: str, rng) -> dict:
    x = graph.tensors["x"]
    info = np.iinfo(np.dtype(x.dtype))
    xs = rng.integers(info.min, info.max, x.shape, dtype=np.int64).astype(x.dtype)
    with open_target(graph, board) as t:
        t.run([xs])
        instr = t.profile()[0]["cycles"]
        kind = t.cycles_kind
    weights = sum(t_.nbytes for t_ in graph.constants() if t_.name == "w")
    act = graph.tensors["x"].nbytes + graph.tensors["y"].nbytes
    return dict(instructions=instr, weights_bytes=weights, activation_bytes=act, cycles_kind=kind)


HEADERS = ["layer", "int8 conv2d instr", "int8 conv2d_threshold instr", "binary instr", "vs conv2d",
           "vs conv2d_threshold",
           "int8 weights B", "binary weights B", "smaller", "int8 act B", "binary act B"]


def run(board: str = "netduinoplus2") -> list[list]:
    """One row per shape (columns: HEADERS)."""
    rng = np.random.default_rng(0)
    rows = []
    for h, w, cin, cout, k in SHAPES:
        a = layer_cost(int8_conv(h, w, cin, cout, k, rng), board, rng)
        d = layer_cost(int8_smlad_conv(h, w, cin, cout, k, rng), board, rng)
        b = layer_cost(binary_conv(h, w, cin, cout, k, rng), board, rng)
        rows.append([f"{h}x{w}x{cin}->{cout} {k}x{k}", a["instructions"], d["instructions"], b["instructions"],
                     f"{a['instructions'] / b['instructions']:.1f}x", f"{d['instructions'] / b['instructions']:.1f}x",
                     a["weights_bytes"], b["weights_bytes"], f"{a['weights_bytes'] / b['weights_bytes']:.1f}x",
                     a["activation_bytes"], b["activation_bytes"]])
    return rows
