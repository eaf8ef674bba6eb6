"""Numpy reference of the on-device head and its seven learning rules.

It performs the same float32 operations in the same order as firmware/learning/mf_head.c
(sequential dot products, the same exp, no fused multiply-add), so a device's state can be
compared with it bit for bit. The state is a :class:`~.checkpoint.HeadState`, the same
structure as the device's checkpoint blob.

Rules (p = softmax(W x + b), e = p - onehot(y), lr = eta):

- ``tinyol``: W_j -= eta e_j x, b_j -= eta e_j for every class, after every sample.
- ``tinyol-batch``: sum e_j x and e_j over B samples, then apply the mean.
- ``tinyolv2`` / ``tinyolv2-batch``: the same, only for classes added at run time.
- ``lwf``: e = (1 - l)(p - y) + l (p - p'), p' = softmax of a frozen copy of the head
  (0 for classes the copy lacks), l = 100 / (100 + n) in float, n = samples seen including
  this one. The copy is taken when the rule is configured.
- ``lwf-batch``: as lwf, l = 1 while n < B, then B / n; the frozen copy is refreshed to the
  current head every B samples (updates still happen after every sample).
- ``cwr``: temporary weights TW trained like tinyol, samples counted per class; every B
  samples CW_j = (CW_j past_j + TW_j cur_j) / (past_j + cur_j) for the classes seen,
  past_j += cur_j, then TW = CW. Predictions use CW.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .checkpoint import HeadState, layout_hash

RULES = ("tinyol", "tinyol-batch", "tinyolv2", "tinyolv2-batch", "lwf", "lwf-batch", "cwr")
BATCHED = frozenset({"tinyol-batch", "tinyolv2-batch", "lwf-batch", "cwr"})

F32 = np.float32
# exp constants as exact float32 values (the C writes the same hex floats)
_LOG2E = F32(float.fromhex("0x1.715476p+0"))
_LN2_HI = F32(float.fromhex("0x1.63p-1"))
_LN2_LO = F32(float.fromhex("-0x1.bd0106p-13"))
_POLY = tuple(F32(float.fromhex(h)) for h in
              ("0x1.6c16c2p-10", "0x1.111112p-7", "0x1.555556p-5", "0x1.555556p-3"))
_EXP_FLUSH = F32(-80.0)


def rule_code(rule: str | int) -> int:
    """Rule name (or code) -> the code the firmware uses; unknown names raise ValueError."""
    if isinstance(rule, (int, np.integer)) and not isinstance(rule, bool):
        if 0 <= int(rule) < len(RULES):
            return int(rule)
        raise ValueError(f"unknown learning rule code {rule}; codes 0..{len(RULES) - 1}: "
                         f"{', '.join(RULES)}")
    try:
        return RULES.index(rule)
    except ValueError:
        raise ValueError(f"unknown learning rule {rule!r}; known: {', '.join(RULES)}") from None


def rule_name(code: int) -> str:
    return RULES[rule_code(code)]


def expf(x) -> np.ndarray:
    """exp for x <= 0 exactly as mf_head_expf: round(x log2 e) -> n, Cody-Waite reduction,
    degree-6 Taylor polynomial, times 2^n; flushed to 0 below -80."""
    x = np.asarray(x, F32)
    xc = np.maximum(x, _EXP_FLUSH)
    n = np.floor(xc * _LOG2E + F32(0.5))
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    p = _POLY[0]
    for c in _POLY[1:]:
        p = p * r + c
    p = p * r + F32(0.5)
    p = p * r + F32(1.0)
    p = p * r + F32(1.0)
    scale = ((n.astype(np.int32) + 127) << 23).astype(np.uint32).view(F32)
    return np.where(x < _EXP_FLUSH, F32(0.0), p * scale).astype(F32)


def softmax(z: np.ndarray) -> np.ndarray:
    """Subtract the max, exp, divide by the sequential sum (the C's order)."""
    z = np.asarray(z, F32)
    e = expf(z - z.max())
    s = F32(0.0)
    for v in e:
        s = F32(s + v)
    return (e / s).astype(F32)


def forward(w: np.ndarray, b: np.ndarray, rows: int, x: np.ndarray) -> tuple[np.ndarray, int]:
    """Logits of the first ``rows`` classes, dot products summed in k order; and their
    argmax (first on ties)."""
    acc = np.zeros(rows, F32)
    wr = w[:rows]
    for k in range(w.shape[1]):
        acc = acc + wr[:, k] * x[k]
    z = (acc + b[:rows]).astype(F32)
    return z, int(np.argmax(z))


@dataclass(frozen=True)
class TrainResult:
    predicted: int   # argmax of the prediction head before the update
    batch_end: bool  # this sample closed a batch (always for batch size 1)
    p_label: float   # softmax probability of the label before the update
    # the rule's error on the logits (p - y, with LwF's distillation term): what a layer below
    # the head backpropagates (mcuforge.learning.last_conv)
    error: np.ndarray | None = field(default=None, compare=False)


class Head:
    """The head as the firmware keeps it: ``Head(w_init, b_init, max_classes, rule, lr, batch)``
    is the state right after boot (or LEARN_RESET) of firmware built from the same header."""

    def __init__(self, w_init, b_init, max_classes: int, rule: str | int = "tinyol",
                 lr: float = 0.01, batch: int = 1):
        self.w_init = np.asarray(w_init, F32)
        self.b_init = np.asarray(b_init, F32)
        if self.w_init.ndim != 2 or self.b_init.shape != (self.w_init.shape[0],):
            raise ValueError(f"w_init must be [classes, dim] and b_init [classes]; got "
                             f"{self.w_init.shape} and {self.b_init.shape}")
        pretrained, dim = self.w_init.shape
        if not pretrained <= max_classes:
            raise ValueError(f"{pretrained} pretrained classes exceed max_classes {max_classes}")
        self.max_classes = max_classes
        self.defaults = (rule, lr, batch)
        self.state = HeadState.empty(max_classes, dim, pretrained,
                                     layout_hash(self.w_init, self.b_init, max_classes))
        self.reset()

    @classmethod
    def from_state(cls, state: HeadState, w_init, b_init) -> "Head":
        head = cls(w_init, b_init, state.max_classes)
        if state.layout != head.state.layout:
            raise ValueError("state is for another head (layout hash differs)")
        head.state = state.copy()
        return head

    # ---- state changes (each mirrors one function of mf_head.c) ---------------------------
    def reset(self) -> None:
        s = self.state
        p = s.pretrained
        s.w[:] = 0
        s.b[:] = 0
        s.w[:p] = self.w_init
        s.b[:p] = self.b_init
        s.classes = p
        s.total_samples = 0
        self.configure(*self.defaults)

    def configure(self, rule: str | int, lr: float, batch: int) -> None:
        code = rule_code(rule)
        lr = F32(lr)
        if not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be finite and > 0, got {lr}")
        if int(batch) < 1:
            raise ValueError(f"batch size must be >= 1, got {batch}")
        s = self.state
        s.rule, s.lr = code, lr
        s.batch = int(batch) if RULES[code] in BATCHED else 1
        s.samples = s.batch_fill = s.frozen_classes = 0
        s.aux_w[:] = 0
        s.aux_b[:] = 0
        s.past[:] = 0
        s.cur[:] = 0
        if RULES[code] in ("lwf", "lwf-batch", "cwr"):
            self._copy_head_to_aux()
            if RULES[code] != "cwr":
                s.frozen_classes = s.classes

    def add_class(self) -> int:
        s = self.state
        if s.classes >= s.max_classes:
            raise ValueError(f"head full: {s.max_classes} classes in use")
        j = s.classes
        s.w[j] = 0
        s.aux_w[j] = 0
        s.b[j] = s.aux_b[j] = 0
        s.past[j] = s.cur[j] = 0
        s.classes += 1
        return j

    def train(self, x, label: int, teacher=None) -> TrainResult:
        """One labelled sample. ``teacher``: the embedding LwF's frozen copy reads (default
        ``x``); when the backbone moves, the frozen backbone's embedding, so the targets are the
        pre-update network's old-class logits."""
        s = self.state
        x = self._embedding(x)
        teacher = x if teacher is None else self._embedding(teacher)
        rule, c = RULES[s.rule], s.classes
        if not 0 <= label < c:
            raise ValueError(f"label {label} out of range: the head has {c} classes")
        first = s.pretrained if rule in ("tinyolv2", "tinyolv2-batch") else 0
        if rule == "cwr":
            predicted = forward(s.aux_w, s.aux_b, c, x)[1]
            z, _ = forward(s.w, s.b, c, x)
        else:
            z, predicted = forward(s.w, s.b, c, x)
        p = softmax(z)
        p_label = float(p[label])
        s.samples += 1
        s.total_samples += 1

        e = p.copy()
        e[label] = p[label] - F32(1.0)
        if rule in ("lwf", "lwf-batch"):
            lam = self._lwf_lambda()
            keep = F32(F32(1.0) - lam)
            fc = s.frozen_classes
            pf = np.zeros(c, F32)
            pf[:fc] = softmax(forward(s.aux_w, s.aux_b, fc, teacher)[0])
            e = (keep * e + lam * (p - pf)).astype(F32)

        rows = slice(first, c)
        if rule in ("tinyol-batch", "tinyolv2-batch"):
            s.aux_w[rows] = s.aux_w[rows] + e[rows, None] * x[None, :]
            s.aux_b[rows] = s.aux_b[rows] + e[rows]
        else:
            t = s.lr * e[rows]
            s.w[rows] = s.w[rows] - t[:, None] * x[None, :]
            s.b[rows] = s.b[rows] - t
        if rule == "cwr":
            s.cur[label] += 1

        s.batch_fill += 1
        batch_end = s.batch_fill >= s.batch
        if batch_end:
            s.batch_fill = 0
            if rule in ("tinyol-batch", "tinyolv2-batch"):
                nb = F32(s.batch)
                s.w[rows] = s.w[rows] - s.lr * (s.aux_w[rows] / nb)
                s.b[rows] = s.b[rows] - s.lr * (s.aux_b[rows] / nb)
                s.aux_w[rows] = 0
                s.aux_b[rows] = 0
            elif rule == "lwf-batch":
                self._copy_head_to_aux()
                s.frozen_classes = c
            elif rule == "cwr":
                self._cwr_consolidate()
        return TrainResult(int(predicted), bool(batch_end), p_label, e)

    # ---- predictions -------------------------------------------------------------------
    def logits(self, x) -> tuple[np.ndarray, int]:
        """Logits of the prediction head (CW for cwr) and their argmax."""
        s = self.state
        x = self._embedding(x)
        if RULES[s.rule] == "cwr":
            return forward(s.aux_w, s.aux_b, s.classes, x)
        return forward(s.w, s.b, s.classes, x)

    def predict(self, x) -> tuple[int, np.ndarray, np.ndarray]:
        """-> (argmax, logits, probabilities), as PREDICT replies."""
        z, best = self.logits(x)
        return best, z, softmax(z)

    def rule_bytes(self) -> int:
        """RAM the current rule's head state takes at the current class count (LEARN_INFO)."""
        s = self.state
        matrix = 4 * s.classes * (s.dim + 1)
        rule = RULES[s.rule]
        if rule in ("tinyol", "tinyolv2"):
            return matrix
        if rule == "cwr":
            return 2 * matrix + 8 * s.classes
        return 2 * matrix

    # ---- helpers -----------------------------------------------------------------------
    def _embedding(self, x) -> np.ndarray:
        x = np.asarray(x, F32).reshape(-1)
        if x.shape != (self.state.dim,):
            raise ValueError(f"embedding has {x.size} values, the head takes {self.state.dim}")
        if not np.all(np.isfinite(x)):
            raise ValueError("embedding has a non-finite value")
        return x

    def _lwf_lambda(self) -> np.float32:
        s = self.state
        n = F32(s.samples)
        if RULES[s.rule] == "lwf":
            return F32(F32(100.0) / (F32(100.0) + n))
        return F32(1.0) if s.samples < s.batch else F32(F32(s.batch) / n)

    def _copy_head_to_aux(self) -> None:
        s = self.state
        s.aux_w[: s.classes] = s.w[: s.classes]
        s.aux_b[: s.classes] = s.b[: s.classes]

    def _cwr_consolidate(self) -> None:
        s = self.state
        for j in range(s.classes):
            if s.cur[j]:
                pf, cf = F32(s.past[j]), F32(s.cur[j])
                den = F32(pf + cf)
                s.aux_w[j] = (s.aux_w[j] * pf + s.w[j] * cf) / den
                s.aux_b[j] = (s.aux_b[j] * pf + s.b[j] * cf) / den
                s.past[j] += s.cur[j]
                s.cur[j] = 0
        s.w[: s.classes] = s.aux_w[: s.classes]
        s.b[: s.classes] = s.aux_b[: s.classes]
