"""Each board's own non-IID share of the local keyword clips, as embeddings the board computed.

A share file (``.npz``) holds the board's training embeddings and labels, and the held-out
embeddings and labels every board evaluates on; the SuperNode that owns the board is told its
path in its node config, so the data never goes over the network."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Share:
    train_x: np.ndarray  # float32 [n, dim], the board's own embeddings
    train_y: np.ndarray  # int64 [n], head class indices
    eval_x: np.ndarray   # float32 [m, dim], the held-out set
    eval_y: np.ndarray
    pretrained: int      # classes below this index are the pretrained (old) ones

    def class_counts(self, max_classes: int) -> np.ndarray:
        return np.bincount(self.train_y, minlength=max_classes)[:max_classes]


def save_share(path, share: Share) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, train_x=share.train_x.astype(np.float32), train_y=share.train_y.astype(np.int64),
             eval_x=share.eval_x.astype(np.float32), eval_y=share.eval_y.astype(np.int64),
             pretrained=np.int64(share.pretrained))
    return path


def load_share(path) -> Share:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such share file (give each SuperNode share=PATH of its board's data)")
    with np.load(path) as z:
        return Share(z["train_x"], z["train_y"], z["eval_x"], z["eval_y"], int(z["pretrained"]))


def pooled(shares: list[Share]) -> Share:
    """One share holding every board's training samples in a fixed random order: what the
    baseline board that saw all the data learns."""
    x, y = np.concatenate([s.train_x for s in shares]), np.concatenate([s.train_y for s in shares])
    order = np.random.default_rng(0).permutation(len(y))
    return Share(x[order], y[order], shares[0].eval_x, shares[0].eval_y, shares[0].pretrained)


def split_non_iid(labels: np.ndarray, pretrained: int, classes: int, boards: int, new_per_board: int,
                  seed: int = 0) -> list[np.ndarray]:
    """Indices of ``labels`` for each board: every board gets some old-class samples and
    ``new_per_board`` of the new classes (assigned round-robin so each new class has a board),
    with a different random fraction (40-100%) of those classes' samples.

    A class's samples are cut into one chunk per holder, and the longer chunks (all of them when a
    class has fewer samples than holders) go to the holders from a cursor that moves on by that
    many from class to class: with few clips per old class every board still gets old clips,
    not always the first ones."""
    if boards < 1:
        raise ValueError(f"a federation needs at least one board, got {boards}")
    rng = np.random.default_rng(seed)
    new = list(range(pretrained, classes))
    if not new:
        raise ValueError("no new classes to learn")
    k = max(1, min(new_per_board, len(new)))
    owners: dict[int, list[int]] = {c: [] for c in new}
    for b in range(boards):
        for j in range(k):
            owners[new[(b * k + j) % len(new)]].append(b)
    parts: list[list[int]] = [[] for _ in range(boards)]
    cursor = 0
    for c in range(classes):
        where = rng.permutation(np.flatnonzero(labels == c))
        holders = owners.get(c, list(range(boards)))
        if not holders:
            continue
        start = cursor % len(holders)
        holders = holders[start:] + holders[:start]
        cursor += len(where) % len(holders)
        for b, chunk in zip(holders, np.array_split(where, len(holders))):
            take = max(1, int(round(len(chunk) * rng.uniform(0.4, 1.0)))) if len(chunk) else 0
            parts[b].extend(chunk[:take].tolist())
    return [rng.permutation(np.array(p, dtype=np.int64)) for p in parts]


__all__ = ["Share", "load_share", "pooled", "save_share", "split_non_iid"]
