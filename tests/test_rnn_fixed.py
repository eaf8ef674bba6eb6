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


def test_a_ring_too_large_for_the_uno_is_refused_with_the_numbers(tmp_path):
    import keras

    from mcuforge.project import generate
    from mcuforge.data.sequences import load_sequences
    from mcuforge.plan.budget import BudgetError
    from mcuforge.train.rnn import RnnConfig, build_model, save_rnn
    from test_rnn_firmware import bags

    data = load_sequences(bags(tmp_path / "long.npz", steps=400, d=3))
    cfg = RnnConfig(cell="fastgrnn", hidden=4, window=300, stride=50)  # a ring of 300 x 6 bytes
    path = save_rnn(build_model(cfg, 3, 3, 300), cfg, data, tmp_path / "long.rnn.keras")
    keras.backend.clear_session()
    with pytest.raises(BudgetError, match=r"RAM: needs .* \+ extensions 1,888\), uno has 2,048"):
        generate(path, "uno", tmp_path / "fw")
    assert not (tmp_path / "fw").exists()


def test_a_frame_larger_than_the_link_payload_is_refused_before_any_c(tmp_path):
    """32 log-mel bands in Q11 are 64 B, the Uno's link payload is 64 B with the 4-byte BAG_FRAMES
    header still to come: refused at generation (exit 3), not at the first bag."""
    import keras

    from mcuforge.errors import exit_code_for
    from mcuforge.project import generate
    from mcuforge.data.sequences import load_sequences
    from mcuforge.model.keras_rnn import RnnModelError
    from mcuforge.train.rnn import RnnConfig, build_model, save_rnn
    from test_rnn_firmware import bags

    data = load_sequences(bags(tmp_path / "wide.npz", steps=20, d=32))
    cfg = RnnConfig(cell="fastgrnn", hidden=4, window=10, stride=10)
    path = save_rnn(build_model(cfg, 32, 3, 10), cfg, data, tmp_path / "wide.rnn.keras")
    keras.backend.clear_session()
    with pytest.raises(RnnModelError, match=r"frame of 32 values is 64 B.* link payload of 64 B") as e:
        generate(path, "uno", tmp_path / "fw")
    assert exit_code_for(e.value) == 3 and not (tmp_path / "fw" / "mf_rnn_config.h").exists()
    generate(path, "mps2-an385", tmp_path / "m3")  # 1,024 B: fits
