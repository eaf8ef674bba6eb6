"""The fixed-point EMI-FastGRNN (cores without an FPU: Cortex-M3, the Uno): fastgrnn_q and
dense_q against their numpy twins bit for bit (natively, on QEMU's mps2-an385 and on simavr's
Uno, step after step with the state kept on the board), every bag decided as by the twin, and
the whole firmware within the Uno's 2 KB of RAM."""
from __future__ import annotations

import numpy as np
import pytest

from kernel_harness import run_emitted
from mcuforge.model.keras_rnn import RnnModelError, fixed_point_graph
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


def test_fixed_graph_follows_the_float_one_and_its_c_is_the_twin(tmp_path):
    path, npz = untrained(tmp_path, "fastgrnn", rank=2)
    m = load(path)
    g = fixed_point_graph(m.graph)
    assert [op.kind for op in g.ops] == ["fastgrnn_q", "dense_q"] and g.tensor("h").storage == "state"
    frames = np.load(npz)["X"][0]
    sf, sq = initial_state(m.graph), initial_state(g)
    for x in frames:
        lf = run_graph(m.graph, [x[None]], sf)[0]
        hq_before = sq["h"].copy()
        lq = run_graph(g, [quantize(x[None], FRAME_FRAC)], sq)[0]
        assert np.abs(sq["h"] / 2**12 - sf["h"]).max() < 0.02  # the format's error stays small
        assert np.abs(lq / 2.0 ** g.ops[1].attrs["frac"] - lf).max() < 0.05
        for op, ins, want in ((g.ops[0], [quantize(x[None], FRAME_FRAC), hq_before], sq["h"]),
                              (g.ops[1], [sq["h"]], lq)):
            assert np.array_equal(run_emitted(op, g, ins)[0].reshape(want.shape), want)
    with pytest.raises(RnnModelError, match="only FastGRNN"):
        fixed_point_graph(load(untrained(tmp_path, "gru")[0]).graph)


@pytest.mark.parametrize("board", [pytest.param("mps2-an385", marks=pytest.mark.qemu),
                                   pytest.param("uno", marks=pytest.mark.simavr)])
def test_board_is_bit_exact_with_the_twin(tmp_path, board):
    from mcuforge.rnn.client import check_rule, send_bag
    from mcuforge.rnn.reference import frames_for, run_bag
    from mcuforge.rnn.rule import RnnRule
    from mcuforge.target import open_target

    path, npz = untrained(tmp_path, "fastgrnn", rank=2)
    m = load(path)
    rule = RnnRule.from_meta(m.meta, classes=3)
    X = np.load(npz)["X"][:4]
    with open_target(m, board, workdir=tmp_path / "fw") as target:
        g = target.project.graph
        assert g.ops[0].kind == "fastgrnn_q"  # no FPU: fixed point
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


@pytest.mark.simavr
def test_keyword_frames_run_on_the_uno_split_over_link_chunks(tmp_path):
    """The keyword shape (32 log-mel bands: a 64 B Q11 frame, the Uno's whole link payload;
    windows of 48 every 16 over 98 steps): each frame goes over two BAG_FRAMES chunks and the
    three overlapping instances keep 3 hidden states, not a 3 KB ring of frames. Every bag as
    the twin decides it, within 2 KB of RAM."""
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
    cfg = RnnConfig(cell="fastgrnn", hidden=16, rank=4, window=48, stride=16, k=2, p_hat=0.4, kappa=4)
    model = build_model(cfg, 32, 3, 48)
    for w in model.weights:
        w.assign(np.asarray(w.numpy()) * 2.0)
    path = save_rnn(model, cfg, data, tmp_path / "kws.rnn.keras")
    keras.backend.clear_session()
    m = load(path)
    rule = RnnRule.from_meta(m.meta, classes=3)
    X = np.load(tmp_path / "kws.npz")["X"][:2]
    with open_target(m, "uno", workdir=tmp_path / "fw") as target:
        g = target.project.graph
        assert g.tensors[g.inputs[0]].nbytes == 64 == target.link.hello().max_payload and rule.slots == 3
        check_rule(target.link, rule)
        for bag in X:
            frames = frames_for(g, bag)
            got, want = send_bag(target.link, frames), run_bag(g, rule, frames)
            assert got.same_decisions(want) and got.exit_steps == want.exit_steps and got.instances == 4, (got, want)
        size = target.build
        assert size.ram_bytes <= 2048 and size.flash_bytes <= 32256, (size.ram_bytes, size.flash_bytes)
