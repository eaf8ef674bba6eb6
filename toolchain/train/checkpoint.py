"""Checkpoints of what an int8 training graph learned on the board: its trainable tensors (the
updated weights and biases of the layers it trains), as the board reads them back after every
training step (:func:`mcuforge.graph.backward.training_graph` with ``read_back``).

A checkpoint is stored in the results database as an artifact (``trained-state``, one per task
and step) and put back onto a board as a firmware whose trainable tensors start from it
(:func:`restored`: ``mf_model_reset()`` copies the RAM copies from flash at boot), so a board
that was lost (a killed QEMU, a reset: the arena went with its RAM) resumes where its last
step left it. The training graph is otherwise the same (same calibrated gradient scales), so
the steps after the checkpoint are the ones the lost board would have taken.
"""
from __future__ import annotations

import copy
import io
import json

import numpy as np

from ..errors import UsageError
from ..graph.ir import DTYPES, Graph

ARTIFACT = "trained-state"


class CheckpointError(UsageError):
    """A checkpoint that does not belong to the training graph (names, shapes, dtypes) or is damaged."""


def trainable(tg: Graph) -> dict[str, np.ndarray]:
    """The trainable tensors of ``tg`` at their initial (pretrained) values."""
    return {t.name: np.asarray(t.data).astype(DTYPES[t.dtype]).reshape(t.shape)
            for t in tg.persistent() if t.storage == "trainable"}


def read_back(tg: Graph, outputs) -> dict[str, np.ndarray]:
    """The trained tensors from a training step's outputs (the probabilities, then each trainable
    tensor, as ``training_graph(read_back=True)`` orders them)."""
    return {name: np.asarray(v).astype(DTYPES[tg.tensor(name).dtype]).reshape(tg.tensor(name).shape)
            for name, v in zip(tg.outputs[1:], outputs[1:])}


def to_bytes(tensors: dict[str, np.ndarray], **meta) -> bytes:
    names = list(tensors)
    buf = io.BytesIO()
    np.savez(buf, __meta__=np.array(json.dumps(dict(meta, names=names))),
             **{f"t{i}": tensors[n] for i, n in enumerate(names)})
    return buf.getvalue()


def from_bytes(data: bytes) -> tuple[dict[str, np.ndarray], dict]:
    """(tensors, meta) of a checkpoint written by :func:`to_bytes`."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(str(z["__meta__"]))
            tensors = {n: z[f"t{i}"] for i, n in enumerate(meta.pop("names"))}
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"damaged checkpoint: {exc}") from None
    return tensors, meta


def check(tg: Graph, tensors: dict[str, np.ndarray]) -> None:
    want = trainable(tg)
    if set(tensors) != set(want):
        raise CheckpointError(f"the checkpoint holds {sorted(tensors)}, the training graph {tg.name!r} trains "
                              f"{sorted(want)}")
    for name, value in tensors.items():
        if value.shape != want[name].shape or value.dtype != want[name].dtype:
            raise CheckpointError(f"checkpoint tensor {name!r} is {value.dtype}{value.shape}, the training graph's "
                                  f"{want[name].dtype}{want[name].shape}")


def restored(tg: Graph, tensors: dict[str, np.ndarray]) -> Graph:
    """``tg`` whose trainable tensors start from ``tensors``: its firmware boots into the checkpoint."""
    check(tg, tensors)
    g = copy.copy(tg)
    g.tensors = dict(tg.tensors)
    g.source_hash = ""  # other initial values: its own firmware
    for name, value in tensors.items():
        g.tensors[name] = copy.copy(tg.tensor(name))
        g.tensors[name].data = value.copy()
    return g


def save(store, run_id: int, tensors: dict[str, np.ndarray], task: int, step: int) -> None:
    """Store the trained tensors after ``step`` training steps of ``task``."""
    store.add_artifact(run_id, ARTIFACT, data=to_bytes(tensors, task=task, step=step), step=step)


def latest(store, run_id: int, task: int) -> tuple[int, dict[str, np.ndarray]] | None:
    """(step, tensors) of the last checkpoint of ``task`` in run ``run_id``, or None."""
    for art in reversed(store.artifacts(run_id, ARTIFACT, with_data=True)):
        tensors, meta = from_bytes(art.data)
        if meta.get("task") == task:
            return int(meta["step"]), tensors
    return None
