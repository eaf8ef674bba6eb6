"""Aggregating the boards' learned heads (``HeadState`` checkpoints) into one global head.

- ``fedavg``: every array weighted by the number of samples each board trained on this round;
- ``perclass``: each class row averaged only over the boards that saw that class this round
  (weighted by how many samples of it they saw), rows no board saw this round kept from the
  global head: a board that never heard a keyword does not pull its row back towards zero,
  as in CWR's consolidation of the rows a batch trained.

Both keep the global head's header (classes, layout); the rule's counters start again on the
board when the round's rule is configured after the global head is written back."""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from ..learning.checkpoint import CheckpointError, HeadState

MODES = ("fedavg", "perclass")
_ROWS = ("w", "b", "aux_w", "aux_b")  # per-class arrays: [max_classes, ...]


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown aggregation {mode!r}; choose one of {', '.join(MODES)}")
    return mode


def aggregate(global_state: HeadState, states: Sequence[HeadState], counts: Sequence[np.ndarray],
              mode: str = "fedavg") -> HeadState:
    """The new global head from the boards' ``states`` after a round that started at ``global_state``;
    ``counts[k][c]`` = samples of class c board k trained on this round."""
    check_mode(mode)
    if not states or len(states) != len(counts):
        raise ValueError(f"aggregate needs one class count per state (got {len(states)} states, "
                         f"{len(counts)} counts, at least one)")
    for s in states:
        if (s.layout, s.max_classes, s.dim, s.classes) != (global_state.layout, global_state.max_classes,
                                                           global_state.dim, global_state.classes):
            raise CheckpointError(f"a board's head (layout 0x{s.layout:08x}, {s.classes} classes) is not "
                                  f"the global head's (0x{global_state.layout:08x}, {global_state.classes})")
    c = np.stack([np.asarray(n, np.float64)[:global_state.max_classes] for n in counts])  # [boards, classes]
    out = global_state.copy()
    if mode == "fedavg":
        weights = c.sum(1)
        if weights.sum() == 0:
            return out
        weights = weights / weights.sum()
        for name in _ROWS:
            stacked = np.stack([getattr(s, name).astype(np.float64) for s in states])
            setattr(out, name, np.tensordot(weights, stacked, axes=1).astype(np.float32))
    else:
        seen = c.sum(0)
        rows = seen > 0
        share = np.divide(c, seen, out=np.zeros_like(c), where=seen > 0)  # [boards, classes]
        for name in _ROWS:
            stacked = np.stack([getattr(s, name).astype(np.float64) for s in states])
            mixed = np.einsum("kc,kc...->c...", share, stacked)
            arr = getattr(out, name).copy()
            arr[rows] = mixed[rows].astype(np.float32)
            setattr(out, name, arr)
    # cwr's per-class sample counts: what every board added to the global head's
    added = sum(s.past.astype(np.int64) - global_state.past.astype(np.int64) for s in states)
    out.past = np.maximum(global_state.past.astype(np.int64) + added, 0).astype(np.uint32)
    out.cur = np.zeros_like(global_state.cur)
    out.samples = out.batch_fill = 0
    out.total_samples = global_state.total_samples + sum(int(s.samples) for s in states)
    return out



def share_order(share: str, node: int = 0) -> tuple:
    """Sort key of a board's reply: its share's name in natural order (board2 before board10), then
    its node id."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(share))), int(node)


def aggregate_replies(global_state: HeadState, replies: Sequence[tuple[tuple, HeadState, np.ndarray]],
                      mode: str = "fedavg") -> HeadState:
    """``aggregate`` over ``(key, state, counts)`` replies in the order of their keys (``share_order``),
    not the order they arrived in: a float sum's rounding depends on its order, so with three or
    more boards arrival order would make the global head differ from run to run."""
    ordered = sorted(replies, key=lambda r: r[0])
    return aggregate(global_state, [r[1] for r in ordered], [r[2] for r in ordered], mode)


__all__ = ["MODES", "aggregate", "aggregate_replies", "check_mode", "share_order"]
