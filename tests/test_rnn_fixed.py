"""The fixed-point RNN cells (cores without an FPU: Cortex-M3, the Uno): fastgrnn_q, lstm_q,
gru_q and dense_q against their numpy twins bit for bit (natively, on QEMU's mps2-an385 and on simavr's
Uno, step after step with the state kept on the board), every bag decided as by the twin, and
the whole firmware within the Uno's 2 KB of RAM."""
from __future__ import annotations

import numpy as np
import pytest

from kernel_harness import run_emitted
from mcuforge.model.keras_rnn import fixed_point_graph
from mcuforge.model.loader import load
from mcuforge.ops._fixed_rnn import FRAME_FRAC, quantize, sigmoid_q, tanh_q, tanh_table
from mcuforge.reference.executor import initial_state, run_graph
from test_rnn_firmware import untrained


def test_table_nonlinearities_follow_tanh_and_sigmoid():
    x = np.linspace(-7.9, 7.9, 2001)
    q = quantize(x, 12).astype(np.int64)
    t = tanh_table()
    assert np.abs(tanh_q(q, t) / 2**14 - np.tanh(q / 2**12)).max() < 6e-4
    assert np.abs(sigmoid_q(q, t) / 2**14 - 1 / (1 + np.exp(-q / 2**12))).max() < 6e-4


CELL_KW = {"fastgrnn": dict(rank=2), "lstm": {}, "gru": {}}


@pytest.mark.parametrize("cell", ["fastgrnn", "lstm", "gru"])
def test_fixed_graph_follows_the_float_one_and_its_c_is_the_twin(tmp_path, cell):
    path, npz = untrained(tmp_path, cell, **CELL_KW[cell])
    m = load(path)
    g = fixed_point_graph(m.graph)
    states = [t.name for t in g.states()]
    assert [op.kind for op in g.ops] == [f"{cell}_q", "dense_q"] and states == (["h", "c"] if cell == "lstm" else ["h"])
    frames = np.load(npz)["X"][0][:8]
    sf, sq = initial_state(m.graph), initial_state(g)
    for x in frames:
        lf = run_graph(m.graph, [x[None]], sf)[0]
        before = [sq[n].copy() for n in states]
        lq = run_graph(g, [quantize(x[None], FRAME_FRAC)], sq)[0]
        for n in states:
            assert np.abs(sq[n] / 2**12 - sf[n]).max() < 0.02  # the format's error stays small
        assert np.abs(lq / 2.0 ** g.ops[1].attrs["frac"] - lf).max() < 0.05
        got = run_emitted(g.ops[0], g, [quantize(x[None], FRAME_FRAC), *before])
        assert all(np.array_equal(a.reshape(sq[n].shape), sq[n]) for a, n in zip(got, states))
        assert np.array_equal(run_emitted(g.ops[1], g, [sq["h"]])[0].reshape(lq.shape), lq)


@pytest.mark.parametrize("cell,board", [pytest.param("fastgrnn", "mps2-an385", marks=pytest.mark.qemu),
                                        pytest.param("fastgrnn", "uno", marks=pytest.mark.simavr),
                                        pytest.param("gru", "mps2-an385", marks=pytest.mark.qemu),
                                        pytest.param("lstm", "uno", marks=pytest.mark.simavr),
                                        # every cell on both cores without an FPU
                                        pytest.param("lstm", "mps2-an385", marks=pytest.mark.qemu),
                                        pytest.param("gru", "uno", marks=pytest.mark.simavr)])
def test_board_is_bit_exact_with_the_twin(tmp_path, cell, board):
    from mcuforge.rnn.client import check_rule, send_bag
    from mcuforge.rnn.reference import frames_for, run_bag
    from mcuforge.rnn.rule import RnnRule
    from mcuforge.target import open_target

    path, npz = untrained(tmp_path, cell, **CELL_KW[cell])
    m = load(path)
    rule = RnnRule.from_meta(m.meta, classes=3)
    X = np.load(npz)["X"][:4]
    with open_target(m, board, workdir=tmp_path / "fw") as target:
        g = target.project.graph
        assert g.ops[0].kind == f"{cell}_q"  # no FPU: fixed point
        # step by step from the boot state (zero; the state stays on the board between invokes)
        state = initial_state(g)
        for x in frames_for(g, X[0])[:10]:
            want = run_graph(g, [x[None]], state)[0]
            out, _ = target.run([x[None]])
            assert np.array_equal(out[0].reshape(want.shape), want)
        # whole bags through the rnn extension
        check_rule(target.link, rule)
        exits = []
        for bag in X:
            frames = frames_for(g, bag)
            got, want = send_bag(target.link, frames), run_bag(g, rule, frames)
            assert got.same_decisions(want) and got.exit_steps == want.exit_steps, (got, want)
            exits += got.exit_steps
        assert min(exits) < rule.window  # early exits happened
        if board == "uno":
            size = target.build
            assert size.ram_bytes <= 2048 and size.flash_bytes <= 32256, (size.ram_bytes, size.flash_bytes)


def test_too_many_instances_at_once_for_the_uno_are_refused_with_the_numbers(tmp_path):
    import keras

    from mcuforge.project import generate
    from mcuforge.data.sequences import load_sequences
    from mcuforge.plan.budget import BudgetError
    from mcuforge.train.rnn import RnnConfig, build_model, save_rnn
    from test_rnn_firmware import bags

    data = load_sequences(bags(tmp_path / "long.npz", steps=400, d=3))
    cfg = RnnConfig(cell="fastgrnn", hidden=4, window=300, stride=2)  # 150 states of 4 x int16 at once
    path = save_rnn(build_model(cfg, 3, 3, 300), cfg, data, tmp_path / "long.rnn.keras")
    keras.backend.clear_session()
    with pytest.raises(BudgetError, match=r"RAM: needs .* \+ extensions 2,\d{3}\), uno has 2,048"):
        generate(path, "uno", tmp_path / "fw")
    assert not (tmp_path / "fw").exists()


@pytest.mark.parametrize("board", [pytest.param("uno", marks=pytest.mark.simavr),
                                   pytest.param("netduinoplus2", marks=pytest.mark.qemu)])
def test_keyword_frames_run_on_the_board_as_the_twin_decides(tmp_path, board):
    """The keyword shape (32 log-mel bands; windows of 48 every 16 over 98 steps): on the Uno a
    64 B Q11 frame is the whole link payload, so each frame goes over two BAG_FRAMES chunks, and
    the three overlapping instances keep 3 hidden states, not a 3 KB ring of frames, within 2 KB
    of RAM. On the netduinoplus2 (float32) the arena puts the logits over the frame's bytes: each
    instance's step gets the frame again. Every bag as the twin decides it."""
    import keras

    from mcuforge.data.sequences import load_sequences
    from mcuforge.rnn.client import check_rule, send_bag
    from mcuforge.rnn.reference import frames_for, run_bag
    from mcuforge.rnn.rule import RnnRule
    from mcuforge.target import open_target
    from mcuforge.train.rnn import RnnConfig, build_model, save_rnn
    from test_rnn_firmware import bags

    keras.utils.set_random_seed(1)
    data = load_sequences(bags(tmp_path / "kws.npz", n=2, steps=98, d=32))
    cfg = RnnConfig(cell="fastgrnn", hidden=16, rank=4, window=48, stride=16, k=2, p_hat=0.9, kappa=4)
    model = build_model(cfg, 32, 3, 48)
    for w in model.weights:
        w.assign(np.asarray(w.numpy()) * 2.0)
    path = save_rnn(model, cfg, data, tmp_path / "kws.rnn.keras")
    keras.backend.clear_session()
    m = load(path)
    rule = RnnRule.from_meta(m.meta, classes=3)
    X = np.load(tmp_path / "kws.npz")["X"][:2]
    with open_target(m, board, workdir=tmp_path / "fw") as target:
        g, plan = target.project.graph, target.project.plan
        assert rule.slots == 3
        if board == "uno":
            assert g.tensors[g.inputs[0]].nbytes == 64 == target.link.hello().max_payload
        else:
            assert plan.offsets["logits"] == plan.offsets["frame"]
        check_rule(target.link, rule)
        exits = []
        for bag in X:
            frames = frames_for(g, bag)
            got, want = send_bag(target.link, frames), run_bag(g, rule, frames)
            assert got.same_decisions(want) and got.exit_steps == want.exit_steps and got.instances == 4, (got, want)
            exits += got.exit_steps
        assert max(exits) > rule.stride  # instances ran side by side
        size = target.build
        if board == "uno":
            assert size.ram_bytes <= 2048 and size.flash_bytes <= 32256, (size.ram_bytes, size.flash_bytes)
