"""The numpy reference of the on-device head (host only): its exp, each rule's maths on
hand-checkable cases, the checkpoint blob and the generated header."""
from __future__ import annotations

import re

import numpy as np
import pytest

from mcuforge.learning.checkpoint import CheckpointError, HeadState, state_bytes
from mcuforge.codegen.c_literals import c_float
from mcuforge.learning.config import HeadDefaults, render_head_config
from mcuforge.learning.rules import RULES, Head, expf, rule_code, softmax
from test_learning_support import PRETRAINED, Task

F32 = np.float32


def small_head(rule, lr=0.5, batch=2, max_classes=4):
    w = np.array([[1.0, 0.0], [0.0, 1.0]], F32)
    b = np.array([0.0, 0.5], F32)
    return Head(w, b, max_classes, rule, lr, batch)


def tinyol_delta(head, x, y):
    """-lr (p - onehot(y)) x for every class, in float64 from the head's current weights."""
    s = head.state
    c = s.classes
    z = s.w[:c].astype(np.float64) @ x + s.b[:c]
    p = np.exp(z - z.max())
    p /= p.sum()
    e = p.copy()
    e[y] -= 1
    return -float(s.lr) * np.outer(e, x), -float(s.lr) * e


# ---- exp and softmax ---------------------------------------------------------------------

def test_expf_matches_exp_to_float_precision_and_flushes_below_minus_80():
    x = np.concatenate([np.linspace(-80, 0, 200001, dtype=F32), F32([-1e-7, -0.0, 0.0])])
    got = expf(x).astype(np.float64)
    want = np.exp(x.astype(np.float64))
    assert np.max(np.abs(got - want) / want) < 4e-7  # ~3 float32 ulps at worst
    assert expf(F32(0.0)) == 1.0
    assert np.all(expf(F32([-80.5, -100.0, -np.inf])) == 0.0)


def test_softmax_is_shift_invariant_and_normalised():
    z = F32([3.0, -1.0, 0.5, 200.0])
    p = softmax(z)
    assert p.dtype == F32 and abs(float(p.sum()) - 1.0) < 1e-6
    assert np.array_equal(softmax(z - F32(7.0)), p)  # the max is subtracted first
    assert softmax(F32([-1e30, 0.0]))[0] == 0.0


# ---- the rules ---------------------------------------------------------------------------

def test_rule_names_and_codes():
    assert RULES == ("tinyol", "tinyol-batch", "tinyolv2", "tinyolv2-batch", "lwf", "lwf-batch", "cwr")
    assert [rule_code(r) for r in RULES] == list(range(7))
    with pytest.raises(ValueError, match="unknown learning rule 'sgd'.*tinyol"):
        rule_code("sgd")
    with pytest.raises(ValueError, match="code 7"):
        rule_code(7)


def test_tinyol_is_one_sgd_step_of_cross_entropy():
    h = small_head("tinyol")
    x = F32([0.5, 2.0])
    dw, db = tinyol_delta(h, x, 0)
    w0, b0 = h.state.w[:2].copy(), h.state.b[:2].copy()
    r = h.train(x, 0)
    assert r.predicted == 1 and r.batch_end
    np.testing.assert_allclose(h.state.w[:2] - w0, dw, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(h.state.b[:2] - b0, db, rtol=1e-5, atol=1e-7)


def test_tinyol_batch_applies_the_mean_at_batch_end_only():
    h = small_head("tinyol-batch", batch=2)
    xs, ys = [F32([0.5, 2.0]), F32([1.5, -0.5])], [0, 1]
    w0 = h.state.w.copy()
    deltas = [tinyol_delta(h, x, y)[0] for x, y in zip(xs, ys)]  # both at the same weights
    assert not h.train(xs[0], ys[0]).batch_end
    assert np.array_equal(h.state.w, w0)
    assert h.train(xs[1], ys[1]).batch_end
    np.testing.assert_allclose(h.state.w[:2] - w0[:2], (deltas[0] + deltas[1]) / 2, rtol=1e-5, atol=1e-7)
    assert not h.state.aux_w.any()


@pytest.mark.parametrize("rule", ["tinyolv2", "tinyolv2-batch"])
def test_tinyolv2_trains_only_classes_added_at_run_time(rule):
    h = small_head(rule, batch=1)
    old = h.state.w[:2].copy(), h.state.b[:2].copy()
    x = F32([0.5, 2.0])
    h.train(x, 1)  # no new class yet: nothing to train
    assert np.array_equal(h.state.w[:2], old[0])
    assert h.add_class() == 2
    for _ in range(3):
        h.train(x, 2)
    assert np.array_equal(h.state.w[:2], old[0]) and np.array_equal(h.state.b[:2], old[1])
    assert h.state.w[2] @ x + h.state.b[2] > 0  # the new row moved towards x


def test_lwf_lambda_is_computed_in_float():
    """At n = 1 the head equals its frozen copy, so e = (1 - 100/101)(p - y): 1/101 of the
    tinyol step. Integer division (100/101 == 0) would give the full tinyol step."""
    h = small_head("lwf")
    x = F32([0.5, 2.0])
    dw, _ = tinyol_delta(h, x, 0)
    w0 = h.state.w[:2].copy()
    h.train(x, 0)
    np.testing.assert_allclose(h.state.w[:2] - w0, dw / 101, rtol=1e-4, atol=1e-8)
    assert h.state.frozen_classes == 2 and np.array_equal(h.state.aux_w[:2], w0)


def test_lwf_gives_zero_frozen_probability_to_new_classes():
    h = small_head("lwf")
    h.add_class()
    x = F32([0.5, 2.0])
    s = h.state
    z = s.w[:3].astype(np.float64) @ x + s.b[:3]
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    zf = s.aux_w[:2].astype(np.float64) @ x + s.aux_b[:2]
    pf = np.append(np.exp(zf - zf.max()) / np.exp(zf - zf.max()).sum(), 0.0)
    lam = 100 / 101
    e = (1 - lam) * (p - np.eye(3)[2]) + lam * (p - pf)
    b0 = s.b[:3].copy()
    h.train(x, 2)
    np.testing.assert_allclose(s.b[:3] - b0, -0.5 * e, rtol=1e-4, atol=1e-8)


def test_lwf_batch_lambda_schedule_and_frozen_refresh():
    h = small_head("lwf-batch", batch=3)
    x = F32([0.5, 2.0])
    w0 = h.state.w.copy()
    h.train(x, 0)  # n = 1 < B: lambda = 1 and p == p', so no change at all
    assert np.array_equal(h.state.w, w0)
    h.add_class()
    h.train(x, 2)  # the new class has p' = 0: e = p, so its row moves away from x
    assert h.state.w[2] @ x < 0 and h.state.frozen_classes == 2
    assert h.train(x, 2).batch_end  # n = B: refresh the frozen copy with all classes
    assert h.state.frozen_classes == 3
    assert np.array_equal(h.state.aux_w[:3], h.state.w[:3])
    assert h._lwf_lambda() == F32(1.0)
    h.state.samples = 6
    assert h._lwf_lambda() == F32(0.5)  # B / n


def test_cwr_consolidates_by_class_counts_and_predicts_with_cw():
    h = small_head("cwr", batch=3)
    s = h.state
    x = F32([0.5, 2.0])
    cw0 = s.aux_w[:2].copy()
    h.train(x, 0)
    h.train(x, 0)
    assert np.array_equal(s.aux_w[:2], cw0)  # CW waits for the batch end
    assert not np.array_equal(s.w[:2], cw0)  # while TW learns
    assert h.logits(x)[1] == int(np.argmax(cw0 @ x + s.aux_b[:2]))  # predictions use CW
    tw = s.w[:2].copy()
    assert h.train(F32([1.0, 0.0]), 1).batch_end
    assert list(s.past[:2]) == [2, 1] and not s.cur.any()
    assert not np.array_equal(s.aux_w[0], cw0) and tw.shape == (2, 2)
    assert np.array_equal(s.w[:2], s.aux_w[:2])  # then TW = CW


def test_cwr_consolidation_formula_exactly():
    h = small_head("cwr", batch=2)
    s = h.state
    s.past[:2] = [3, 0]
    cw = s.aux_w[:2].copy()
    x = F32([0.5, 2.0])
    h.train(x, 0)
    h.train(x, 1)
    # the TW rows just before consolidation: a twin whose batch is one sample longer
    twin = small_head("cwr", batch=3)
    twin.state.past[:2] = [3, 0]
    twin.train(x, 0)
    twin.train(x, 1)
    tw = twin.state.w[:2]
    np.testing.assert_array_equal(s.aux_w[0], (cw[0] * F32(3) + tw[0] * F32(1)) / F32(4))
    np.testing.assert_array_equal(s.aux_w[1], (cw[1] * F32(0) + tw[1] * F32(1)) / F32(1))
    assert list(s.past[:2]) == [4, 1]


def test_add_class_and_label_checks():
    h = small_head("tinyol", max_classes=3)
    assert h.add_class() == 2
    with pytest.raises(ValueError, match="head full: 3 classes"):
        h.add_class()
    with pytest.raises(ValueError, match="label 3 out of range"):
        h.train(F32([1, 1]), 3)
    with pytest.raises(ValueError, match="non-finite"):
        h.train(F32([1, np.nan]), 0)
    with pytest.raises(ValueError, match="batch size must be >= 1"):
        h.configure("tinyol-batch", 0.1, 0)
    with pytest.raises(ValueError, match="learning rate"):
        h.configure("tinyol", float("nan"), 1)


@pytest.mark.parametrize("rule", RULES)
def test_every_rule_learns_a_new_class(rule):
    task = Task(seed=3)
    head = Head(task.w_init, task.b_init, 16, rule, lr=0.05, batch=4)
    rng = np.random.default_rng(1)
    labels = rng.permutation(np.repeat(np.arange(PRETRAINED + 1), 20))
    head.add_class()
    for x, y in zip(task.samples(labels), labels):
        head.train(x, int(y))
    test_y = np.repeat(np.arange(PRETRAINED + 1), 20)
    pred = np.array([head.logits(x)[1] for x in task.samples(test_y)])
    new_acc = (pred[test_y == PRETRAINED] == PRETRAINED).mean()
    old_acc = (pred[test_y < PRETRAINED] == test_y[test_y < PRETRAINED]).mean()
    assert old_acc > 0.8, (rule, old_acc)
    assert new_acc > 0.5, (rule, new_acc)  # from 0: the class did not exist before


# ---- checkpoint blob ----------------------------------------------------------------------

def test_blob_round_trip_and_checks():
    task = Task(seed=1)
    h = Head(task.w_init, task.b_init, 16, "cwr", 0.05, 3)
    h.add_class()
    for x, y in zip(task.samples([0, 12, 5, 12]), [0, 12, 5, 12]):
        h.train(x, y)
    blob = h.state.to_bytes()
    assert len(blob) == state_bytes(16, task.dim) == 4 * (16 + 2 * 16 * 128 + 64)
    back = HeadState.from_bytes(blob)
    assert back.to_bytes() == blob and back.samples == 4 and back.classes == 13
    assert list(back.past[:13]) == [1] + [0] * 4 + [1] + [0] * 6 + [1]
    bad = bytearray(blob)
    bad[100] ^= 1
    with pytest.raises(CheckpointError, match="CRC"):
        HeadState.from_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match="needs"):
        HeadState.from_bytes(blob[:-4])
    with pytest.raises(CheckpointError, match="magic"):
        HeadState.from_bytes(b"XXXX" + blob[4:])
    restored = Head.from_state(back, task.w_init, task.b_init)
    x = task.samples([12])[0]
    assert restored.train(x, 12) == h.train(x, 12)
    assert restored.state.to_bytes() == h.state.to_bytes()


# ---- the generated header ------------------------------------------------------------------

def test_c_float_round_trips_float32():
    for v in (1.0, -0.0, 1e-5, 0.1, 3.4028235e38, 1.1754944e-38, -2.5):
        s = c_float(v)
        assert s.endswith("f") and ("." in s or "e" in s)
        assert F32(float(s[:-1])) == F32(v)


def test_render_head_config_contents():
    task = Task(seed=2)
    text = render_head_config(task.w_init, task.b_init, 16, {"rule": "lwf-batch", "lr": 0.005,
                                                            "batch_size": 10})
    defs = dict(re.findall(r"#define (MF_HEAD_\w+) (\S+)", text))
    assert defs["MF_HEAD_MAX_CLASSES"] == "16u" and defs["MF_HEAD_DIM"] == "128u"
    assert defs["MF_HEAD_PRETRAINED_CLASSES"] == "12u" and defs["MF_HEAD_DEFAULT_RULE"] == "5u"
    assert defs["MF_HEAD_DEFAULT_LR"] == "0.005f" and defs["MF_HEAD_DEFAULT_BATCH"] == "10u"
    values = re.search(r"mf_head_init_w\[1536\] = \{(.*?)\};", text, re.S).group(1)
    w = np.array([float(v.strip().rstrip("f")) for v in values.split(",")], F32)
    assert np.array_equal(w, task.w_init.reshape(-1))
    layout = int(defs["MF_HEAD_LAYOUT_HASH"].rstrip("u"), 16)
    assert layout == Head(task.w_init, task.b_init, 16).state.layout


def test_render_head_config_rejects_bad_input():
    w, b = np.zeros((3, 8), F32), np.zeros(3, F32)
    with pytest.raises(ValueError, match=r"bias b must be \[classes\] = \[3\]"):
        render_head_config(w, np.zeros(8), 4)
    with pytest.raises(ValueError, match="2-D"):
        render_head_config(np.zeros(8), b, 4)
    with pytest.raises(ValueError, match="non-finite"):
        render_head_config(np.full((3, 8), np.inf), b, 4)
    with pytest.raises(ValueError, match="max_classes must be in 3..255"):
        render_head_config(w, b, 2)
    with pytest.raises(ValueError, match="max_classes must be in 3..255"):
        render_head_config(w, b, 300)
    with pytest.raises(ValueError, match="unknown learning rule 'adam'"):
        render_head_config(w, b, 4, {"rule": "adam"})
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        render_head_config(w, b, 4, {"lr": 0})
    with pytest.raises(ValueError, match="batch must be an integer in 1..65535"):
        render_head_config(w, b, 4, {"batch": 0})
    with pytest.raises(ValueError, match="unknown key"):
        render_head_config(w, b, 4, {"momentum": 0.9})
    assert HeadDefaults.coerce(None) == HeadDefaults()
