"""The arena planner: no two live tensors share bytes, reuse pays, and the arena is never larger than TFLM's."""
from __future__ import annotations

import numpy as np
import pytest

from mcuforge import ops as op_registry
from mcuforge.graph.ir import Graph, Op, Quant, Tensor
from mcuforge.model.tflite import load_tflite
from mcuforge.plan.arena import plan_arena
from mcuforge.reference.tflm import tflm_arena
from models.zoo import SUPPORTED, ZOO


def lifetimes(graph: Graph) -> dict[str, tuple[int, int]]:
    """Independent recomputation: [first op touching, last op touching], inputs from -1, outputs to the end."""
    life: dict[str, list[int]] = {}
    for name in graph.inputs:
        life[name] = [-1, -1]
    for i, op in enumerate(graph.ops):
        for name in [n for n in op.inputs if n] + op.outputs:
            if graph.tensors[name].is_const:
                continue
            lo, hi = life.get(name, [i, i])
            life[name] = [min(lo, i), max(hi, i)]
    for name in graph.outputs:
        life[name][1] = len(graph.ops)
    return {k: tuple(v) for k, v in life.items()}


def aliases(graph: Graph) -> set[frozenset]:
    pairs = set()
    for op in graph.ops:
        if getattr(op_registry.get(op.kind), "ALIAS", False):
            pairs.add(frozenset((op.inputs[0], op.outputs[0])))
    return pairs


def check_no_overlap(graph: Graph, plan) -> None:
    life = lifetimes(graph)
    alias = aliases(graph) | {frozenset((graph.ops[i].inputs[0], graph.ops[i].outputs[0])) for i in plan.in_place}
    names = list(life)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if frozenset((a, b)) in alias:
                assert plan.offsets[a] == plan.offsets[b]
                continue
            (a0, a1), (b0, b1) = life[a], life[b]
            if a1 < b0 or b1 < a0:
                continue
            ra = (plan.offsets[a], plan.offsets[a] + graph.tensors[a].nbytes)
            rb = (plan.offsets[b], plan.offsets[b] + graph.tensors[b].nbytes)
            # An aliased group shares one buffer; anything else alive together must not overlap.
            if any(frozenset((a, x)) in alias and frozenset((x, b)) in alias for x in names):
                continue
            assert ra[1] <= rb[0] or rb[1] <= ra[0], f"{a} {ra} and {b} {rb} are live together and overlap"
    for name in names:
        assert plan.offsets[name] % 8 == 0
        assert plan.offsets[name] + graph.tensors[name].nbytes <= plan.arena_bytes


@pytest.mark.parametrize("name", SUPPORTED)
def test_zoo_plans_are_sound_and_never_larger_than_tflm(name):
    data = ZOO[name]()
    graph = load_tflite(data)
    plan = plan_arena(graph)
    check_no_overlap(graph, plan)
    assert plan.arena_bytes <= plan.naive_bytes()
    # like for like: TFLM's activation arena, not its total with the interpreter's persistent structures
    assert plan.arena_bytes <= tflm_arena(data)["activations"], "arena larger than TFLM's for the same model"


def _kws_on(board: str):
    from mcuforge.boards import load_board

    graph = load_tflite(ZOO["ds_cnn_kws"]())
    op_registry.select_variants(graph, load_board(board))
    return graph, plan_arena(graph)


def test_dsp_layers_of_a_ds_cnn_run_in_place_below_the_two_tensor_bound():
    """On a DSP core every depthwise and pointwise layer after the first conv writes over its input:
    the arena is at most one activation tensor, the first conv's input and the largest scratch
    (a few rows), under the bound of any plan of whole tensors (the largest pair alive at once)."""
    graph, plan = _kws_on("netduinoplus2")
    check_no_overlap(graph, plan)
    kinds = [op.kind for op in graph.ops]
    blocks = [i for i, k in enumerate(kinds) if k == "depthwise_conv2d"]
    assert blocks and plan.in_place == sorted(blocks + [i + 1 for i in blocks])  # each depthwise and its pointwise
    assert all(graph.ops[i].inputs[0] != graph.inputs[0] for i in plan.in_place)
    sizes = [graph.tensors[op.outputs[0]].nbytes for op in graph.ops]
    largest = max(graph.tensors[op.inputs[0]].nbytes + graph.tensors[op.outputs[0]].nbytes for op in graph.ops)
    scratch = max(b.size for b in plan.buffers if b.tensors[0].startswith("__scratch__"))
    assert max(sizes) <= plan.arena_bytes <= max(sizes) + graph.tensors[graph.inputs[0]].nbytes + scratch
    assert plan.arena_bytes < largest


def test_reference_kernels_keep_whole_tensors():
    """The portable kernels read their input while they write: nothing in place on a Cortex-M3."""
    graph, plan = _kws_on("mps2-an385")
    assert plan.in_place == []
    check_no_overlap(graph, plan)


def test_an_input_read_again_later_is_not_written_over():
    """A residual branch: the depthwise conv could run in place, but the ADD after it reads its
    input again, so its output takes new bytes."""
    from mcuforge.boards import load_board

    graph = load_tflite(ZOO["residual"]())
    op_registry.select_variants(graph, load_board("netduinoplus2"))
    plan = plan_arena(graph)
    check_no_overlap(graph, plan)
    dw = next(i for i, op in enumerate(graph.ops) if op.kind == "depthwise_conv2d")
    assert op_registry.get("depthwise_conv2d").in_place_scratch_bytes(graph.ops[dw], graph) is not None
    assert graph.ops[dw + 1].kind == "add" and graph.ops[dw].inputs[0] in graph.ops[dw + 1].inputs
    assert dw not in plan.in_place


def _t(name, n, const=False):
    q = Quant(np.array([0.1], np.float32), np.array([0], np.int64))
    data = np.zeros(n, np.int8) if const else None
    return Tensor(name, (1, n), "int8", q, data)


def test_chain_reuses_memory_and_reshape_aliases():
    # x(100) -> requantize -> a(100) -> reshape -> b(100) -> requantize -> y(10): x and y may share, a==b.
    tensors = {n: _t(n, s) for n, s in [("x", 100), ("a", 100), ("b", 100), ("c", 40), ("y", 40)]}
    graph = Graph("chain", tensors, [
        Op("quantize", ["x"], ["a"]), Op("reshape", ["a"], ["b"]), Op("quantize", ["b"], ["c"]),
        Op("quantize", ["c"], ["y"]),
    ], ["x"], ["y"])
    plan = plan_arena(graph)
    assert plan.offsets["a"] == plan.offsets["b"]
    check_no_overlap(graph, plan)
    # Best possible: x+a live together (200), then b+c (140), then c+y (80).
    assert plan.arena_bytes == 208  # 100 -> 104 aligned, twice
    assert plan.naive_bytes() > plan.arena_bytes
