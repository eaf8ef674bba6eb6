"""One board's part of a federated round, over its serial link.

Every round starts from the global head the server sent (none in the first round: the board's
pretrained head with the new classes added), so the round's work is a pure function of that head
and the board's share: a board that dies mid-round is opened again (a fresh emulator, or the
real board re-attached) and the round is done again from the same head; nothing half-trained is
ever sent. Bytes over the link are counted at the message payload level (frames add 8 each)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..flash import FlashError
from ..learning.checkpoint import CheckpointError, HeadState
from ..learning.client import LearningClient
from ..learning.session import board_opener
from ..link import LinkError
from .shares import Share

RECOVERABLE = (LinkError, FlashError, CheckpointError, OSError)


@dataclass(frozen=True)
class BoardSpec:
    """Which board a client owns: its firmware and board name, and a port for a real board."""

    firmware: str
    board: str
    port: str = ""
    hash: str = ""

    def opener(self):
        options = {"port": self.port} if self.port else {}
        return board_opener(Path(self.firmware), self.board, expected_hash=self.hash or None, **options)


@dataclass
class RoundResult:
    state: bytes          # the learned head (checkpoint blob)
    counts: np.ndarray    # samples of each class trained this round
    local: dict           # the learned head's accuracies on the held-out set
    serial_bytes: int
    restarts: int


def _count_bytes(link) -> list[int]:
    """Wrap link.request so every payload sent and received is counted."""
    total = [0]
    request = link.request

    def counted(msg, payload=b"", **kw):
        reply = request(msg, payload, **kw)
        total[0] += len(payload) + len(reply.payload)
        return reply

    link.request = counted
    return total


def accuracies(pred: np.ndarray, labels: np.ndarray, pretrained: int) -> dict:
    ok, old = pred == labels, labels < pretrained
    out = {"accuracy_all": float(ok.mean())}
    if old.any():
        out["accuracy_old"] = float(ok[old].mean())
    if (~old).any():
        out["accuracy_new"] = float(ok[~old].mean())
        for c in np.unique(labels[~old]):
            out[f"accuracy_class_{int(c)}"] = float(ok[labels == c].mean())
    return out


def load_global(learn: LearningClient, state: bytes | None, classes: int) -> None:
    if state is not None:
        learn.write_state(state)
        return
    learn.reset()
    while learn.info().classes < classes:
        learn.add_class()


def with_board(spec: BoardSpec, work, retries: int, progress):
    """work(link, learn) on a freshly opened board; the board opened again after a failure."""
    open_board = spec.opener()
    for attempt in range(retries + 1):
        conn = None
        try:
            conn = open_board()
            counter = _count_bytes(conn.link)
            result = work(conn, LearningClient(conn.link))
            return result, counter[0], attempt
        except RECOVERABLE as e:
            if attempt == retries:
                raise
            progress(f"board lost ({type(e).__name__}: {e}); opening it again and redoing the round")
        finally:
            if conn is not None:
                conn.close()


def train_round(spec: BoardSpec, share: Share, state: bytes | None, classes: int, rule: str, lr: float,
                batch: int, retries: int = 2, on_step=None, progress=lambda msg: None) -> RoundResult:
    """The board learns its share with ``rule`` from the global head ``state``; returns what it learned.
    ``on_step(conn, step)`` runs before each training step of every attempt (tests kill a board there)."""
    def work(conn, learn: LearningClient):
        load_global(learn, state, classes)
        learn.configure(rule, lr, batch)
        for step, (x, y) in enumerate(zip(share.train_x, share.train_y), start=1):
            if on_step is not None:
                on_step(conn, step)
            learn.set_embedding(x)
            learn.train(int(y))
        blob = learn.read_state()
        pred = learn.eval_embeddings(share.eval_x)
        return blob, accuracies(pred, share.eval_y, share.pretrained)

    (blob, local), serial, restarts = with_board(spec, work, retries, progress)
    max_classes = HeadState.from_bytes(blob).max_classes
    return RoundResult(blob, share.class_counts(max_classes), local, serial, restarts)


def evaluate_state(spec: BoardSpec, share: Share, state: bytes, retries: int = 2,
                   progress=lambda msg: None) -> tuple[dict, int]:
    """The global head's accuracies on the held-out set, evaluated on the board; and the link's bytes."""
    def work(conn, learn: LearningClient):
        learn.write_state(state)
        return accuracies(learn.eval_embeddings(share.eval_x), share.eval_y, share.pretrained)

    result, serial, _ = with_board(spec, work, retries, progress)
    return result, serial


__all__ = ["BoardSpec", "RoundResult", "accuracies", "evaluate_state", "train_round"]
