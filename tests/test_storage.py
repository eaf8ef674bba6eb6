"""Tensor storage in the IR: constant (flash), activation (arena), state (arena, kept across
invokes) and trainable (an arena copy of a flash constant). The planner never lets another
tensor share a persistent tensor's bytes, the numpy reference carries state between calls
as the arena does, and on the board a state tensor accumulates over invokes exactly as the
reference says."""
from __future__ import annotations

import numpy as np
import pytest

from mcuforge.graph.ir import Graph, Op, Quant, Tensor
from mcuforge.graph.lower import lower
from mcuforge.plan.arena import plan_arena
from mcuforge.reference.executor import initial_state, run_graph


def q(scale: float, zp: int = 0) -> Quant:
    return Quant(np.array([scale], np.float32), np.array([zp], np.int64))


def accumulator_graph(n: int = 24) -> Graph:
    """acc <- acc + x (a state tensor, written in place); y <- acc + w (w trainable);
    z <- relu-free add of x with itself (an ordinary activation chain beside them)."""
    rng = np.random.default_rng(0)
    t = {
        "x": Tensor("x", (1, n), "int8", q(0.05, 3)),
        "acc": Tensor("acc", (1, n), "int8", q(0.1, -2), persist="state"),
        "w": Tensor("w", (1, n), "int8", q(0.02, 1), data=rng.integers(-128, 128, (1, n)).astype(np.int8),
                    persist="trainable"),
        "y": Tensor("y", (1, n), "int8", q(0.12, 4)),
        "h": Tensor("h", (1, n), "int8", q(0.1, 0)),
        "z": Tensor("z", (1, n), "int8", q(0.2, -1)),
    }
    ops = [
        Op("add", ["x", "acc"], ["acc"], {"activation": "none"}, index=0, name="accumulate"),
        Op("add", ["acc", "w"], ["y"], {"activation": "none"}, index=1, name="bias_by_trainable"),
        Op("add", ["x", "x"], ["h"], {"activation": "none"}, index=2, name="double"),
        Op("add", ["h", "x"], ["z"], {"activation": "none"}, index=3, name="triple"),
    ]
    g = Graph("accumulator", t, ops, inputs=["x"], outputs=["y", "z"])
    lower(g)
    return g


def test_storage_kinds():
    g = accumulator_graph()
    assert {n: t.storage for n, t in g.tensors.items()} == {
        "x": "activation", "acc": "state", "w": "trainable", "y": "activation", "h": "activation", "z": "activation"}
    assert not g.tensor("w").is_const and [t.name for t in g.persistent()] == ["acc", "w"]
    assert g.constants() == []
    with pytest.raises(ValueError, match="persist must be one of"):
        Tensor("bad", (1,), "int8", persist="flash")


def test_persistent_tensors_share_bytes_with_nothing():
    g = accumulator_graph()
    plan = plan_arena(g)
    spans = {b.tensors[0]: (b.offset, b.offset + b.size) for b in plan.buffers}
    for name in ("acc", "w"):
        lo, hi = spans[name]
        for other, (a, b) in spans.items():
            if other != name:
                assert b <= lo or a >= hi, (name, other, spans)
    # without persistence, the same graph reuses bytes (x is dead before z is written)
    assert plan.persistent_bytes(g) == 48
    g2 = accumulator_graph()
    for t in g2.tensors.values():
        t.persist = ""
    g2.tensor("w").data = None  # (a plain activation now)
    assert plan_arena(g2).arena_bytes < plan.arena_bytes


def test_persistent_bytes_leave_out_a_layers_scratch():
    """A FastGRNN step: its hidden state (10 floats) persists, its scratch buffer does not (it
    used to raise KeyError '__scratch__L0')."""
    from test_kernels_rnn import step_graph

    g = step_graph(np.random.default_rng(0), hidden=10)
    plan = plan_arena(g)
    assert "__scratch__L0" in plan.offsets
    assert plan.persistent_bytes(g) == 40


def test_trainable_without_initial_value_is_refused():
    g = accumulator_graph()
    g.tensor("w").data = None
    with pytest.raises(ValueError, match="trainable tensor 'w' has no initial value"):
        plan_arena(g)


def test_reference_keeps_state_between_calls():
    g = accumulator_graph()
    x = np.full((1, 24), 20, np.int8)
    fresh = [run_graph(g, [x])[0] for _ in range(2)]
    assert np.array_equal(fresh[0], fresh[1])  # no state passed: every call starts from reset
    state = initial_state(g)
    assert not state["acc"].any() and np.array_equal(state["w"], g.tensor("w").data)
    kept = [run_graph(g, [x], state)[0] for _ in range(3)]
    assert not np.array_equal(kept[0], kept[2])  # the accumulator grew
    assert np.array_equal(kept[0], fresh[0])


def test_generated_c_resets_state_and_copies_trainable(tmp_path):
    from mcuforge.project import generate

    project = generate(accumulator_graph(), "netduinoplus2", tmp_path / "p")
    c = (project.path / "model" / "model.c").read_text()
    assert "state: kept across invokes" in c and "trainable: RAM copy the device updates" in c
    assert "memset(T_acc, 0, 24u); /* state */" in c
    assert "mf_copy_const(T_w, I_w, 24u); /* trainable */" in c
    assert "static const int8_t I_w[24]" in c


@pytest.mark.qemu
def test_state_accumulates_on_the_board_as_the_reference_says(tmp_path):
    from mcuforge.target import open_target

    g = accumulator_graph()
    rng = np.random.default_rng(1)
    xs = [rng.integers(-40, 60, (1, 24)).astype(np.int8) for _ in range(5)]
    state = initial_state(g)
    with open_target(g, "netduinoplus2", workdir=tmp_path / "fw") as target:
        for x in xs:
            want = run_graph(g, [x], state)
            got, _ = target.run([x])
            for a, b in zip(got, want):
                assert np.array_equal(a.reshape(b.shape), b)
    assert state["acc"].any()
