"""The FastGRNN step kernel (firmware/kernels/fastgrnn_f32.c) against its numpy twin
(toolchain/ops/fastgrnn_f32.py) on the host and on the emulated board, and the twin against
the Keras cell the model is trained with."""
from __future__ import annotations

import numpy as np
import pytest

from kernel_harness import run_emitted
from mcuforge.graph.ir import Graph, Op, Tensor
from mcuforge.ops import fastgrnn_f32
from mcuforge.reference.executor import initial_state, run_graph


def step_graph(rng, d=6, hidden=10, rank_w=0, rank_u=0, state=True) -> Graph:
    f = lambda *s: rng.normal(0, 0.5, s).astype(np.float32)  # noqa: E731
    t = {"x": Tensor("x", (1, d), "float32"),
         "h": Tensor("h", (1, hidden), "float32", persist="state" if state else ""),
         "b_z": Tensor("b_z", (hidden,), "float32", data=f(hidden)),
         "b_h": Tensor("b_h", (hidden,), "float32", data=f(hidden))}
    names = []
    for m, rows, rank in (("w", d, rank_w), ("u", hidden, rank_u)):
        if rank:
            t[m + "1"] = Tensor(m + "1", (rows, rank), "float32", data=f(rows, rank))
            t[m + "2"] = Tensor(m + "2", (rank, hidden), "float32", data=f(rank, hidden))
            names += [m + "1", m + "2"]
        else:
            t[m] = Tensor(m, (rows, hidden), "float32", data=f(rows, hidden))
            names += [m, ""]
    out = "h" if state else "h_out"
    if not state:
        t["h_out"] = Tensor("h_out", (1, hidden), "float32")
    op = Op("fastgrnn_f32", ["x", "h", *names, "b_z", "b_h"], [out],
            {"zeta": 1 / (1 + np.exp(-1.0)), "nu": 1 / (1 + np.exp(4.0))}, index=0)
    return Graph("fastgrnn_step", t, [op], inputs=["x"] if state else ["x", "h"], outputs=[out])


@pytest.mark.parametrize("ranks", [(0, 0), (3, 0), (2, 4)])
def test_emitted_step_equals_the_twin(ranks):
    rng = np.random.default_rng(sum(ranks))
    g = step_graph(rng, rank_w=ranks[0], rank_u=ranks[1], state=False)
    x, h = rng.normal(0, 1, (1, 6)).astype(np.float32), rng.uniform(-1, 1, (1, 10)).astype(np.float32)
    want = fastgrnn_f32.reference(g.ops[0], g, [x, h] + [g.tensor(n).data if n else None for n in g.ops[0].inputs[2:]])[0]
    got = run_emitted(g.ops[0], g, [x, h])[0]
    assert np.abs(got - want).max() <= fastgrnn_f32.TOLERANCE
    assert np.abs(want - h).max() > 0.01  # the step did something


def test_twin_matches_the_keras_cell():
    import keras

    from mcuforge.train.rnn_cells import FastGRNNCell

    rng = np.random.default_rng(3)
    cell = FastGRNNCell(10, rank_w=3)
    layer = keras.layers.RNN(cell, return_sequences=True)
    xs = rng.normal(0, 1, (1, 9, 6)).astype(np.float32)
    keras_h = np.asarray(layer(xs))[0]
    w1, w2, u, bz, bh, zeta, nu = [np.asarray(v, np.float32) for v in cell.get_weights()]
    g = step_graph(rng, rank_w=3)
    for name, v in (("w1", w1), ("w2", w2), ("u", u), ("b_z", bz), ("b_h", bh)):
        g.tensor(name).data = v
    g.ops[0].attrs.update(zeta=1 / (1 + np.exp(-zeta)), nu=1 / (1 + np.exp(-nu)))
    g.ops[0].attrs.pop("rank_w", None)
    state = initial_state(g)
    for t in range(9):
        run_graph(g, [xs[:, t]], state)
        np.testing.assert_allclose(state["h"][0], keras_h[t], atol=2e-5)


@pytest.mark.qemu
@pytest.mark.parametrize("board", ["netduinoplus2"])
def test_steps_on_the_board_follow_the_twin(board, tmp_path):
    from mcuforge.target import open_target

    rng = np.random.default_rng(7)
    g = step_graph(rng, rank_w=3)
    state = initial_state(g)
    xs = rng.normal(0, 1, (12, 1, 6)).astype(np.float32)
    worst = 0.0
    with open_target(g, board, workdir=tmp_path / "fw") as target:
        for x in xs:  # the hidden state lives on the board between invokes
            want = run_graph(g, [x], state)[0]
            got = target.run([x])[0][0].reshape(want.shape)
            worst = max(worst, float(np.abs(got - want).max()))
            state["h"] = got.copy()  # each step from the board's own state: per-step tolerance
    assert worst <= fastgrnn_f32.TOLERANCE, worst
    assert np.abs(state["h"]).max() > 0.05


# ---------------------------------------------------------------- LSTM and GRU baselines


def gated_graph(kind: str, rng, d=5, hidden=7) -> Graph:
    """An lstm_f32 / gru_f32 step with its states kept between invokes."""
    gates = {"lstm_f32": 4, "gru_f32": 3}[kind]
    f = lambda *s: rng.normal(0, 0.5, s).astype(np.float32)  # noqa: E731
    t = {"x": Tensor("x", (1, d), "float32"), "h": Tensor("h", (1, hidden), "float32", persist="state"),
         "kernel": Tensor("kernel", (d, gates * hidden), "float32", data=f(d, gates * hidden)),
         "recurrent": Tensor("recurrent", (hidden, gates * hidden), "float32", data=f(hidden, gates * hidden)),
         "bias": Tensor("bias", (gates * hidden,), "float32", data=f(gates * hidden))}
    states = ["h"]
    if kind == "lstm_f32":
        t["c"] = Tensor("c", (1, hidden), "float32", persist="state")
        states.append("c")
    op = Op(kind, ["x", *states, "kernel", "recurrent", "bias"], states, {}, index=0)
    return Graph(kind, t, [op], inputs=["x"], outputs=["h"])


def keras_cell_graph(kind: str, rng, d=5, hidden=7):
    import keras

    cell = keras.layers.LSTMCell(hidden) if kind == "lstm_f32" else keras.layers.GRUCell(hidden, reset_after=False)
    layer = keras.layers.RNN(cell, return_sequences=True)
    xs = rng.normal(0, 1, (1, 9, d)).astype(np.float32)
    keras_h = np.asarray(layer(xs))[0]
    g = gated_graph(kind, rng, d, hidden)
    for name, v in zip(("kernel", "recurrent", "bias"), cell.get_weights()):
        g.tensor(name).data = np.asarray(v, np.float32)
    return g, xs, keras_h


@pytest.mark.parametrize("kind", ["lstm_f32", "gru_f32"])
def test_gated_twin_matches_the_keras_cell_and_the_emitted_c(kind):
    from mcuforge import ops

    rng = np.random.default_rng(11)
    g, xs, keras_h = keras_cell_graph(kind, rng)
    state = initial_state(g)
    op = g.ops[0]
    for t in range(9):
        before = {k: v.copy() for k, v in state.items()}
        run_graph(g, [xs[:, t]], state)
        np.testing.assert_allclose(state["h"][0], keras_h[t], atol=2e-5)
        # the C the generator emits for this step, natively, from the same state
        got = run_emitted(op, g, [xs[:, t], *[before[n] for n in op.outputs]])
        for n, v in zip(op.outputs, got):
            assert np.abs(v - state[n]).max() <= ops.get(kind).TOLERANCE, (t, n)


@pytest.mark.qemu
@pytest.mark.parametrize("kind", ["lstm_f32", "gru_f32"])
def test_gated_steps_on_the_board_follow_the_twin(kind, tmp_path):
    from mcuforge import ops
    from mcuforge.target import open_target

    rng = np.random.default_rng(5)
    g = gated_graph(kind, rng)
    state = initial_state(g)
    xs = rng.normal(0, 1, (10, 1, 5)).astype(np.float32)
    worst = 0.0
    with open_target(g, "netduinoplus2", workdir=tmp_path / "fw") as target:
        for x in xs:
            want = run_graph(g, [x], state)[0]
            got = target.run([x])[0][0].reshape(want.shape)
            worst = max(worst, float(np.abs(got - want).max()))
            state["h"] = got.copy()  # (an LSTM's c is not an output: its drift shows up in h)
    assert worst <= 10 * ops.get(kind).TOLERANCE, worst
    assert np.abs(state["h"]).max() > 0.05


def test_dense_f32_emitted_equals_the_twin_bit_for_bit():
    from mcuforge.ops import dense_f32

    rng = np.random.default_rng(2)
    t = {"x": Tensor("x", (1, 9), "float32"), "y": Tensor("y", (1, 4), "float32"),
         "w": Tensor("w", (9, 4), "float32", data=rng.normal(0, 1, (9, 4)).astype(np.float32)),
         "b": Tensor("b", (4,), "float32", data=rng.normal(0, 1, 4).astype(np.float32))}
    g = Graph("dense", t, [Op("dense_f32", ["x", "w", "b"], ["y"], {}, index=0)], inputs=["x"], outputs=["y"])
    x = rng.normal(0, 1, (1, 9)).astype(np.float32)
    want = dense_f32.reference(g.ops[0], g, [x, t["w"].data, t["b"].data])[0]
    assert np.array_equal(run_emitted(g.ops[0], g, [x])[0], want)
    np.testing.assert_allclose(want[0], x[0] @ t["w"].data + t["b"].data, rtol=1e-5)
