"""Each learning rule written once more, here, from its equations in float64, and compared step by
step with the numpy twin of the C head (mcuforge.learning.rules, which test_learning_qemu.py
compares with the board bit for bit). This code shares nothing with the twin but the equations:

    p = softmax(W x + b), e = p - onehot(y), eta the learning rate, B the batch size
    tinyol          W_j -= eta e_j x, b_j -= eta e_j for every class j, after every sample
    tinyol-batch    the same e_j x and e_j summed over B samples, their mean applied every B samples
    tinyolv2(-batch) as tinyol(-batch), only for classes added at run time (j >= pretrained)
    lwf             e = (1 - l)(p - y) + l (p - p'), p' = softmax of the head as it was configured
                    (0 for classes added since), l = 100 / (100 + n), n = samples so far
    lwf-batch       as lwf with l = 1 while n < B, then B / n; p' from a copy of the head refreshed
                    every B samples
    cwr             TW trained as tinyol; every B samples, for each class seen in the batch,
                    CW_j = (CW_j past_j + TW_j cur_j) / (past_j + cur_j), past_j += cur_j; then TW = CW;
                    predictions use CW
"""
from __future__ import annotations

import numpy as np
import pytest

from mcuforge.learning.rules import RULES, Head
from test_learning_support import MAX_CLASSES, PRETRAINED, Task


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


class Float64Head:
    def __init__(self, w: np.ndarray, b: np.ndarray, rule: str, lr: float, batch: int):
        self.rule, self.lr, self.B = rule, float(np.float32(lr)), batch
        self.W, self.b = np.array(w, np.float64), np.array(b, np.float64)
        self.pretrained = len(b)
        self.n = 0
        self.gw, self.gb = np.zeros_like(self.W), np.zeros_like(self.b)  # batch sums of e x, e
        self.fw, self.fb = self.W.copy(), self.b.copy()  # lwf: the frozen head
        self.cw, self.cb = self.W.copy(), self.b.copy()  # cwr: consolidated weights
        self.past, self.cur = np.zeros(len(b)), np.zeros(len(b))

    def add_class(self) -> None:
        self.W, self.gw, self.cw = (np.vstack([m, np.zeros(m.shape[1])]) for m in (self.W, self.gw, self.cw))
        self.b, self.gb, self.cb, self.past, self.cur = (np.append(v, 0.0) for v in
                                                         (self.b, self.gb, self.cb, self.past, self.cur))

    def predict(self, x) -> int:
        w, b = (self.cw, self.cb) if self.rule == "cwr" else (self.W, self.b)
        return int(np.argmax(w @ x + b))

    def train(self, x: np.ndarray, y: int) -> int:
        x = np.asarray(x, np.float64)
        predicted = self.predict(x)
        self.n += 1
        c = len(self.b)
        p = _softmax(self.W @ x + self.b)
        e = p - np.eye(c)[y]
        if self.rule in ("lwf", "lwf-batch"):
            if self.rule == "lwf":
                lam = 100.0 / (100.0 + self.n)
            else:
                lam = 1.0 if self.n < self.B else self.B / self.n
            p_frozen = np.zeros(c)
            p_frozen[:len(self.fb)] = _softmax(self.fw @ x + self.fb)
            e = (1 - lam) * e + lam * (p - p_frozen)
        rows = slice(self.pretrained if self.rule.startswith("tinyolv2") else 0, c)
        batch_end = self.n % (self.B if self.rule in ("tinyol-batch", "tinyolv2-batch", "lwf-batch", "cwr") else 1) == 0
        if self.rule.endswith("-batch") and not self.rule.startswith("lwf"):
            self.gw[rows] += np.outer(e[rows], x)
            self.gb[rows] += e[rows]
            if batch_end:
                self.W[rows] -= self.lr * self.gw[rows] / self.B
                self.b[rows] -= self.lr * self.gb[rows] / self.B
                self.gw[:], self.gb[:] = 0.0, 0.0
            return predicted
        self.W[rows] -= self.lr * np.outer(e[rows], x)
        self.b[rows] -= self.lr * e[rows]
        if self.rule == "lwf-batch" and batch_end:
            self.fw, self.fb = self.W.copy(), self.b.copy()
        if self.rule == "cwr":
            self.cur[y] += 1
            if batch_end:
                seen = self.cur > 0
                total = self.past + self.cur
                self.cw[seen] = ((self.cw * self.past[:, None] + self.W * self.cur[:, None]) / np.maximum(total, 1)[:, None])[seen]
                self.cb[seen] = ((self.cb * self.past + self.b * self.cur) / np.maximum(total, 1))[seen]
                self.past, self.cur = total, np.zeros(c)
                self.W, self.b = self.cw.copy(), self.cb.copy()
        return predicted


@pytest.mark.parametrize("rule", RULES)
def test_numpy_twin_equals_the_equations_in_float64(rule):
    task = Task(seed=11)
    rng = np.random.default_rng(12)
    # 60 steps, old and new classes mixed; two classes appear mid-stream (one mid-batch)
    labels = np.concatenate([rng.integers(0, PRETRAINED, 7), [PRETRAINED],
                             rng.permutation(np.concatenate([rng.integers(0, PRETRAINED, 30),
                                                             np.repeat([PRETRAINED, PRETRAINED + 1], 11)]))])
    xs = task.samples(labels)
    twin = Head(task.w_init, task.b_init, MAX_CLASSES, rule, lr=0.03, batch=5)
    ref = Float64Head(task.w_init, task.b_init, rule, lr=0.03, batch=5)
    agree = 0
    for step, (x, y) in enumerate(zip(xs, labels), 1):
        while twin.state.classes <= y:
            twin.add_class()
            ref.add_class()
        got = twin.train(x, int(y)).predicted
        agree += got == ref.train(x, int(y))
        s, c = twin.state, twin.state.classes
        w, b = s.w[:c], s.b[:c]
        scale = np.abs(ref.W).max()
        np.testing.assert_allclose(w, ref.W, rtol=0, atol=2e-5 * scale, err_msg=f"{rule} step {step}: W")
        np.testing.assert_allclose(b, ref.b, rtol=0, atol=2e-5 * max(1.0, np.abs(ref.b).max()),
                                   err_msg=f"{rule} step {step}: b")
        if rule == "cwr":
            np.testing.assert_allclose(s.aux_w[:c], ref.cw, rtol=0, atol=2e-5 * scale, err_msg=f"step {step}: CW")
    assert agree == len(labels)
    # the rule did something: the new classes' rows moved (or, for cwr, were consolidated)
    assert np.abs(ref.W[PRETRAINED:]).max() > 1e-3
