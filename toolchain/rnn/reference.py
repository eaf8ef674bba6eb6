"""numpy twin of ``firmware/rnn/mf_rnn.c``: the same instances, steps, early exits and bag rule,
each step through the graph's op references (``mcuforge.reference.executor``), so the board's
classes and exit steps can be compared with it bag by bag."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..reference.executor import initial_state, run_graph
from ..train.rnn import bag_predictions, window_starts
from .rule import RnnRule, exit_sum_max, exp_table, logit_frac


@dataclass
class BagResult:
    cls: int
    instances: int
    steps: int                                   # cell steps executed
    classes: list[int] = field(default_factory=list)     # per instance (the device reports the first ones)
    exit_steps: list[int] = field(default_factory=list)
    ticks: int = 0                               # device only: counter ticks spent on the bag

    def same_decisions(self, other: "BagResult") -> bool:
        """Same bag class, instance count, steps and (as far as both list them) instance classes and exits."""
        n = min(len(self.classes), len(other.classes))
        return (self.cls, self.instances, self.steps) == (other.cls, other.instances, other.steps) and \
            self.classes[:n] == other.classes[:n] and self.exit_steps[:n] == other.exit_steps[:n]


def top_class(logits: np.ndarray, p_hat: np.float32, logit_frac: int | None = None) -> tuple[int, bool]:
    """The C's top_class: first maximal logit, and 1 / sum_j exp(l_j - l_top) >= p_hat in float32
    (the sum in class order); int32 logits (``logit_frac`` fractional bits) with the Q14 table."""
    if logit_frac is not None:
        return _top_class_fixed(np.asarray(logits, np.int64).reshape(-1), p_hat, logit_frac)
    l = np.asarray(logits, np.float32).reshape(-1)
    best = int(np.argmax(l))
    total = np.float32(0)
    for v in l:
        total = np.float32(total + np.exp(np.float32(v - l[best])))
    return best, bool(np.float32(1) / total >= p_hat)


def _top_class_fixed(l: np.ndarray, p_hat, frac: int) -> tuple[int, bool]:
    best = int(np.argmax(l))
    table = exp_table().astype(np.int64)
    total = 0
    for v in l:
        diff = int(l[best] - v)
        d = (diff >> (frac - 8)) + ((diff >> (frac - 9)) & 1)
        if d < 4096:
            i, f = d >> 4, d & 15
            total += int(table[i] + (((table[i + 1] - table[i]) * f) >> 4))
    return best, total <= exit_sum_max(p_hat)


def run_instance(graph, rule: RnnRule, frames: np.ndarray) -> tuple[int, int]:
    """(class, steps executed) of one instance over ``frames`` [n, d], from a zero state."""
    state = initial_state(graph)
    frac = logit_frac(graph)
    n = len(frames)
    for t in range(n):
        logits = run_graph(graph, [frames[t][None]], state)[0]
        if rule.early_exit and (t + 1) % rule.kappa == 0 and t + 1 < n:
            cls, confident = top_class(logits, rule.p_hat, frac)
            if confident and (not rule.negative_only or cls == rule.negative):
                return cls, t + 1
    return top_class(logits, rule.p_hat, frac)[0], n


def frames_for(graph, frames) -> np.ndarray:
    """A bag's float frames as the device's input takes them: float32, or int16 Q11 (fixed point)."""
    from ..ops._fixed_rnn import FRAME_FRAC, quantize

    dtype = graph.tensors[graph.inputs[0]].dtype
    return np.asarray(frames, np.float32) if dtype == "float32" else quantize(frames, FRAME_FRAC)


def run_bag(graph, rule: RnnRule, frames) -> BagResult:
    """One bag [T, d] (already in the input's dtype: ``frames_for``) as the device runs it."""
    frames = np.asarray(frames)
    if len(frames) == 0:
        raise ValueError("a bag needs at least one frame")
    window = min(rule.window, len(frames))
    starts = window_starts(len(frames), window, rule.stride)
    classes, steps = [], []
    for s in starts:
        c, n = run_instance(graph, rule, frames[s:s + window])
        classes.append(c)
        steps.append(n)
    if rule.bag_rule:
        cls = int(bag_predictions(np.array([classes]), rule.k, rule.negative)[0])
    else:
        cls = classes[-1]
    return BagResult(cls, len(starts), int(sum(steps)), classes, steps)
