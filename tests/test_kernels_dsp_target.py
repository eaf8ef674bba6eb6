"""The DSP-extension kernels (firmware/kernels/*_dsp.c) against the numpy references, on both
emulated Cortex-M4 boards: random and pinned odd shapes (channel counts not a multiple of 4, odd
pixel counts, one input channel, padding, strides, dilation), extreme zero points, a mean over more
than 255 pixels. Each case is checked to have been given the DSP kernel, so none falls back silently."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mcuforge import ops
from mcuforge.boards import load_board
from mcuforge.graph.ir import Graph
from mcuforge.ops._conv_dsp import requant_fits
from mcuforge.plan.arena import plan_arena
from mcuforge.reference.executor import run_graph
from mcuforge.target import open_target
from test_kernels_conv import conv_case, fc_case
from test_kernels_misc import rand_scale, rand_zp, random_input, single_op, tensor
from test_kernels_target import merge


def _fitting(make, rng):
    """A random case whose requantization takes the DSP kernels' path (right shifts >= 2)."""
    while True:
        graph, op = make(rng)
        if requant_fits(op):
            return graph


def _mean_case(rng, h: int, w: int, c: int):
    return single_op("mean", [tensor("x", (1, h, w, c), scale=rand_scale(rng), zp=rand_zp(rng))],
                     tensor("y", (1, 1, 1, c), scale=rand_scale(rng), zp=rand_zp(rng)), axes=(1, 2), keepdims=True)


def cases(rng) -> list:
    conv = lambda **kw: _fitting(lambda r: conv_case(r, "conv2d", **kw), rng)  # noqa: E731
    dw = lambda **kw: _fitting(lambda r: conv_case(r, "depthwise_conv2d", mult=1, **kw), rng)  # noqa: E731
    return [
        conv(), conv(), conv(extreme=True),
        conv(h=5, w=3, cin=13, cout=7, kh=1, kw=1, stride=(1, 1), padding="valid"),  # pointwise, odd everything
        conv(h=9, w=6, cin=1, cout=5, kh=5, kw=3, stride=(2, 2), padding="same"),  # first layer: one channel
        conv(h=7, w=7, cin=6, cout=4, kh=3, kw=3, dilation=(2, 2), stride=(1, 1), padding="same", extreme=True),
        # the assembly's own cases: int8 clamp, even channels, whole quads of groups and single groups;
        # a ReLU6 clamp after it with an odd last channel
        conv(h=3, w=5, cin=16, cout=8, kh=1, kw=1, stride=(1, 1), padding="valid", activation="none"),
        conv(h=4, w=3, cin=5, cout=6, kh=2, kw=2, stride=(1, 1), padding="same", activation="none", extreme=True),
        conv(h=3, w=3, cin=5, cout=9, kh=3, kw=3, stride=(1, 1), padding="same", activation="relu6"),
        dw(), dw(extreme=True), dw(h=6, w=5, cin=7, kh=3, kw=3, stride=(1, 1), padding="same"),
        dw(h=9, w=4, cin=9, kh=3, kw=2, stride=(2, 1), padding="valid", extreme=True),
        dw(h=5, w=4, cin=12, kh=3, kw=3, stride=(1, 1), padding="same", activation="none"),  # the 3x3 assembly
        dw(h=4, w=5, cin=8, kh=2, kw=2, stride=(1, 1), padding="same", activation="relu"),  # 3 taps a pass + 1
        _fitting(lambda r: fc_case(r, filter_zp=0), rng), _fitting(lambda r: fc_case(r, extreme=True, filter_zp=0), rng),
        _mean_case(rng, 17, 16, 7), _mean_case(rng, 3, 5, 8),
    ]


def chain(rng, makers) -> Graph:
    """Single-op cases one after another, each reading the previous one's output (with its
    quantization: the op is prepared again for it), drawn until the DSP kernels take them."""
    tensors, op_list, prev = {}, [], None
    for k, make in enumerate(makers):
        while True:
            g, op = make(rng)
            if prev is not None:
                g.tensors["x"].quant = prev.quant
                ops.get(op.kind).prepare(op, g)
            if requant_fits(op):
                break
        ren = {n: f"c{k}_{n}" for n in g.tensors}
        if prev is not None:
            ren["x"] = prev.name
        for n, t in g.tensors.items():
            if n != "x" or prev is None:
                t.name = ren[n]
                tensors[t.name] = t
        op.inputs = [ren[n] if n else n for n in op.inputs]
        op.outputs = [ren[n] for n in op.outputs]
        op_list.append(op)
        prev = tensors[op.outputs[0]]
    return Graph("chain", tensors, op_list, [op_list[0].inputs[0]], [prev.name], source_hash="")


def in_place_chain(rng) -> Graph:
    """A first conv, then layers the planner runs over their input: a 5x5 depthwise (two rows held
    back, a channel tail), a pointwise to fewer and an odd number of channels under ReLU6, one at
    int8's own clamp, a dilated 3x3 depthwise; a last conv writes the graph output."""
    conv = lambda **kw: lambda r: conv_case(r, "conv2d", **kw)  # noqa: E731
    dw = lambda **kw: lambda r: conv_case(r, "depthwise_conv2d", mult=1, **kw)  # noqa: E731
    one = dict(stride=(1, 1), padding="same", dilation=(1, 1))
    return chain(rng, [
        conv(h=7, w=6, cin=3, cout=10, kh=3, kw=3, **one),
        dw(h=7, w=6, cin=10, kh=5, kw=5, activation="relu", **one),
        conv(h=7, w=6, cin=10, cout=7, kh=1, kw=1, activation="relu6", **one),
        conv(h=7, w=6, cin=7, cout=7, kh=1, kw=1, activation="none", **one),
        dw(h=7, w=6, cin=7, kh=3, kw=3, activation="none", **{**one, "dilation": (2, 2)}),
        conv(h=7, w=6, cin=7, cout=4, kh=3, kw=3, **one),
    ])


@pytest.mark.qemu
@pytest.mark.parametrize("board", ["netduinoplus2", "mps2-an386"])
def test_layers_written_over_their_input_equal_numpy_reference(board, tmp_path):
    rng = np.random.default_rng(95)
    graph = in_place_chain(rng)
    ops.select_variants(graph, load_board(board))
    assert plan_arena(graph).in_place == [1, 2, 3, 4]
    with open_target(graph, board, workdir=tmp_path) as target:
        for trial in range(2):
            xs = [random_input(rng, graph, n) for n in graph.inputs]
            got, _ = target.run(xs)
            np.testing.assert_array_equal(got[0].reshape(-1), run_graph(graph, xs)[0].reshape(-1),
                                          err_msg=f"{board}: trial {trial}")


@pytest.mark.qemu
@pytest.mark.parametrize("board", ["netduinoplus2", "mps2-an386"])
def test_dsp_kernels_equal_numpy_reference_on_target(board, tmp_path):
    rng = np.random.default_rng(94)
    graph = merge(cases(rng), "k_dsp")
    ops.select_variants(graph, load_board(board))
    assert [op.attrs.get("variant") for op in graph.ops] == ["dsp"] * len(graph.ops)
    with open_target(graph, board, workdir=tmp_path) as target:
        for trial in range(2):
            xs = [random_input(rng, graph, n) for n in graph.inputs]
            got, _ = target.run(xs)
            want = run_graph(graph, xs)
            for k, (g, w) in enumerate(zip(got, want)):
                np.testing.assert_array_equal(g.reshape(w.shape), w,
                                              err_msg=f"{board}: {graph.ops[k].kind} case {k} trial {trial}")


def test_reference_kernels_where_the_core_has_no_dsp_extension():
    graph = merge(cases(np.random.default_rng(94)), "k_dsp")
    m4 = load_board("netduinoplus2")
    ops.select_variants(graph, m4)
    assert all(op.attrs["variant"] == "dsp" for op in graph.ops)
    ops.select_variants(graph, replace(m4, core="cortex-m3"))  # the same board without the extension
    assert all("variant" not in op.attrs for op in graph.ops)
