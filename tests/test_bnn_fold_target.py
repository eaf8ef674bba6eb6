"""The folded BNN on the target: generator -> firmware -> QEMU netduinoplus2, embedding bit-exact
with the numpy executor of the folded graph (the same float32 values, not merely close).

Two networks with random weights and BatchNorm statistics (negative and zero gammas): the small
one of test_bnn_fold.py, and the full-size default keyword spotter of mcuforge.train.bnn (98x64
log-mel input, the default binary widths, 128-d embedding), which must also fit the board.
"""
from __future__ import annotations

import numpy as np
import pytest

from mcuforge.model.keras_bnn import load_bnn_keras, quantize_inputs
from mcuforge.reference.executor import run_graph
from mcuforge.target import open_target
from test_bnn_fold import FRAMES, LABELS, MELS, feature_config, random_bnn, shipped_design


def _fold(tmp_path, rng, input_shape, cfg, labels, **arch):
    from mcuforge.train.bnn import save_bnn

    model = random_bnn(rng, input_shape, len(labels), **arch)
    path = save_bnn(model, cfg, labels, tmp_path / "bnn.keras")
    return load_bnn_keras(path)


def _check_on_board(graph, meta, rng, workdir, clips: int):
    with open_target(graph, "netduinoplus2", workdir=workdir) as target:
        shape = graph.tensors["log_mel"].shape
        for i in range(clips):
            feats = rng.normal(0, 1.2, shape[1:3]).astype(np.float32)
            x = quantize_inputs(feats, meta).reshape(shape)
            got, cycles = target.run([x])
            want = run_graph(graph, [x])[0]
            np.testing.assert_array_equal(got[0].reshape(want.shape), want, err_msg=f"clip {i}: embedding differs")
            assert np.count_nonzero(want) > want.size // 4  # a live embedding, not all ReLU zeros
        return target.project, cycles


@pytest.mark.qemu
def test_small_folded_bnn_is_bit_exact_on_board(tmp_path):
    rng = np.random.default_rng(77)
    graph, meta = _fold(tmp_path, rng, (FRAMES, MELS, 1), feature_config(), LABELS)
    _check_on_board(graph, meta, rng, tmp_path / "fw", clips=3)


@pytest.mark.qemu
def test_full_size_folded_bnn_fits_and_is_bit_exact_on_board(tmp_path):
    from mcuforge.train.bnn import BASE_LABELS, BNN_FEATURES

    rng = np.random.default_rng(78)
    cfg = BNN_FEATURES.with_stats(-5.0, 3.0)
    graph, meta = _fold(tmp_path, rng, cfg.shape + (1,), cfg, BASE_LABELS, **shipped_design())
    assert graph.tensors[graph.outputs[0]].shape == (1, 128)
    project, cycles = _check_on_board(graph, meta, rng, tmp_path / "fw", clips=2)
    b = project.budget
    assert b.ram_needed <= b.ram_available and b.flash_needed <= b.flash_available
    assert b.arena_bytes < 64 * 1024  # the largest tensors: conv0's bits, conv_last's 12x8x128 float32 output
    assert cycles > 0
