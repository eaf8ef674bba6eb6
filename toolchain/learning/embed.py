"""The board's embeddings of many clips, computed once for every learning session that replays them.

Streaming a clip's 32 KB of samples is most of its time on an emulated board (QEMU's STM32 USART
costs tens of µs per received byte, more with ``-icount``), and this pass reports no counts: it runs
without ``-icount`` (its SysTick counts are ticks, never used) and spreads the clips over several
emulated boards in parallel (``fleet``: each clip done once, a failing board's clip done again by
another, the embeddings returned in clip order). The learning sessions then replay them with
``SET_EMBEDDING`` under ``-icount``, where the head's update counts are measured."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def board_embeddings(model, project, clips: np.ndarray, boards: int = 2, progress: bool = False,
                     on_done=None) -> np.ndarray:
    """Each of ``clips`` (int16, one per row) through ``project``'s learning firmware on ``boards``
    emulated instances of its board: the embeddings (float32, one row per clip, in clip order).
    ``on_done(board, item, target)`` is the fleet's hook after each clip (tests kill a board there)."""
    from ..fleet import EmbedJob, FleetError, emulated_boards, run_fleet

    job = EmbedJob(Path(model), clips, project.path)
    emulator = project.board.emulator
    options = {"icount": False} if emulator is not None and emulator.kind == "qemu" else None
    result = run_fleet(job, emulated_boards(project.board.name, boards), progress=progress, on_done=on_done,
                       flash_options=options)
    if result.outcome.failed:
        first = next(iter(result.outcome.failed.values()))
        raise FleetError(f"{len(result.outcome.failed)} of {len(clips)} clips failed on every try "
                         f"(clip {next(iter(result.outcome.failed))}: {'; '.join(first)})")
    return np.stack([result.outcome.done[i][1]["embedding"] for i in job.items]).astype(np.float32)


def host_embeddings(graph, meta: dict, clips: np.ndarray, batch: int = 64) -> np.ndarray:
    """The same embeddings computed on the host, for sweeps that run no board: the front end's numpy
    twin (``frontend.reference``: features, int8 quantization) and the folded network in the numpy
    executor (``graph``, ``meta``: ``model.keras_bnn.load_bnn_keras``), ``batch`` clips per pass."""
    from ..data.wav import to_float
    from ..model.keras_bnn import folded_embeddings, quantize_inputs

    clips = np.asarray(clips)
    if clips.dtype != np.int16 or clips.ndim != 2:
        raise ValueError(f"host_embeddings takes int16 clips, one per row; got {clips.dtype} {clips.shape}")
    out = [folded_embeddings(graph, quantize_inputs(meta["feature_config"].extract(to_float(clips[i:i + batch])), meta))
           for i in range(0, len(clips), batch)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, int(meta["embedding_dim"])), np.float32)
