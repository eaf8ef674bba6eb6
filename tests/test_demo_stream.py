"""The demo's streaming pass (learning.embed): raw clips through the learning firmware's front end and
backbone without -icount, on emulated boards in parallel, give the embeddings the board computes under
-icount, clip for clip, in clip order (the rule sessions replay them with their counts under -icount)."""
from __future__ import annotations

import numpy as np
import pytest

BOARD = "netduinoplus2"


@pytest.fixture(scope="module")
def tiny_learning_firmware(tmp_path_factory):
    """An untrained tiny BNN's learning firmware (the embeddings depend on the clip, not on training)."""
    from mcuforge.learning.keywords import prepare_firmware
    from mcuforge.train.bnn import BNN_FEATURES, build_bnn_kws, save_bnn

    root = tmp_path_factory.mktemp("stream")
    model = build_bnn_kws((*BNN_FEATURES.shape, 1), 4, widths=(32, 32), strides=(2, 2), first_filters=16,
                          embedding_dim=32)
    path = save_bnn(model, BNN_FEATURES.with_stats(-6.0, 3.0), ("silence", "unknown", "yes", "no"), root / "bnn.keras")
    return path, prepare_firmware(path, BOARD, root / "fw")


def clips(n: int, seed: int = 0) -> np.ndarray:
    """Loud and quiet noise, 0.2 s each (the board zero-pads a short clip: 6 KB a clip over the UART, not
    32 KB), so the embeddings differ."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 3200)) * rng.uniform(300, 8000, (n, 1))).astype(np.int16)


def icount_embeddings(project, x: np.ndarray) -> np.ndarray:
    """The same clips one after another on one board under -icount (how the demo's first session got them)."""
    from mcuforge.frontend.client import send_clip
    from mcuforge.learning.session import board_opener, clip_source

    conn = board_opener(project.path, BOARD, expected_hash=project.firmware_hash)()
    try:
        assert conn.link.cycle_scale.unit == "emulated-instructions"
        source = clip_source(x, send_clip)
        rows = []
        for i in range(len(x)):
            source(conn.link, i)
            rows.append(np.frombuffer(conn.link.read_output(0), "<f4").copy())
        return np.stack(rows)
    finally:
        conn.close()


@pytest.mark.qemu
def test_streaming_without_icount_gives_the_boards_embeddings_in_clip_order(tiny_learning_firmware):
    from mcuforge.learning.embed import board_embeddings

    model, project = tiny_learning_firmware
    x = clips(4)
    units = []
    got = board_embeddings(model, project, x, boards=1, on_done=lambda b, i, t: units.append(t.link.cycle_scale.unit))
    assert units == ["systick-ticks"] * len(x)  # no -icount: its counts are no instruction counts
    np.testing.assert_array_equal(got, icount_embeddings(project, x))
    assert got.dtype == np.float32 and len({r.tobytes() for r in got}) == len(x)  # one per clip, all different


@pytest.mark.qemu
def test_two_boards_stream_in_parallel_and_a_killed_one_loses_no_clip(tiny_learning_firmware):
    """Board 0's QEMU is killed after its first clip: the clip it holds next goes back to the queue and is
    done again; every clip is done once, and the embeddings come back in clip order, as one board gives them."""
    import os
    import signal

    from mcuforge.learning.embed import board_embeddings

    model, project = tiny_learning_firmware
    x = clips(6, seed=1)
    done, killed = [], []

    def kill_board_0(board, item, target):
        done.append((board.index, item))
        if board.index == 0 and not killed:
            killed.append(target.session.proc)
            os.kill(target.session.proc.pid, signal.SIGKILL)

    got = board_embeddings(model, project, x, boards=2, on_done=kill_board_0)
    assert killed and killed[0].wait(5) == -signal.SIGKILL
    assert sorted(i for _, i in done) == list(range(len(x))) and {b for b, _ in done} == {0, 1}
    np.testing.assert_array_equal(got, icount_embeddings(project, x))
