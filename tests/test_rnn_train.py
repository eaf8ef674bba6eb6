"""EMI-RNN training (mcuforge.train.rnn): the pieces of Algorithm 1 and of early exit checked
exactly on small arrays, the FastGRNN cell against its equations in numpy, and a short
training run on a synthetic multiple-instance task that a broken pipeline cannot pass."""
from __future__ import annotations

import numpy as np
import pytest

from mcuforge.data.sequences import load_sequences, stratified_split
from mcuforge.train.rnn import (RnnConfig, bag_predictions, early_exit, evaluate, exit_sweep, load_rnn,
                                make_instances, relabel, save_rnn, train_rnn, window_starts)
from mcuforge.train.rnn_cells import keep_top


def test_windows():
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(10, 12, 3) == [0]
    X = np.arange(2 * 10 * 1, dtype=np.float32).reshape(2, 10, 1)
    inst = make_instances(X, 4, 3)
    assert inst.shape == (2, 3, 4, 1) and inst[1, 2, 0, 0] == X[1, 6, 0]


def test_relabel_keeps_the_best_k_consecutive_windows():
    scores = np.array([[0.1, 0.9, 0.8, 0.2, 0.95], [0.5, 0.5, 0.5, 0.5, 0.5]])
    y = np.array([3, 0])
    lab = relabel(scores, y, k=2, negative=0)
    assert lab.tolist() == [[0, 3, 3, 0, 0], [0, 0, 0, 0, 0]]  # 0.9+0.8 beats 0.2+0.95


def test_bag_rule_needs_k_consecutive():
    w = np.array([[0, 2, 2, 0, 1], [0, 2, 0, 2, 0], [1, 1, 1, 2, 2]])
    assert bag_predictions(w, k=2, negative=0).tolist() == [2, 0, 1]


def test_early_exit_checks_every_kappa_steps():
    p = np.full((3, 8, 2), 0.5)
    p[0, 3] = [0.05, 0.95]  # step 4 (checked with kappa 2 and 4)
    p[1, 2] = [0.05, 0.95]  # step 3: not a check step with kappa 2
    p[2, 5] = [0.97, 0.03]  # negative class at step 6
    cls, steps = early_exit(p, p_hat=0.9, kappa=2)
    assert steps.tolist() == [4, 8, 6] and cls.tolist() == [1, 0, 0]
    cls, steps = early_exit(p, p_hat=0.9, kappa=2, negative=0, negative_only=True)
    assert steps.tolist() == [8, 8, 6]


def test_keep_top_is_exact_with_ties():
    w = np.array([[3.0, -3.0, 1.0], [3.0, 0.5, -2.0]])
    m = keep_top(w, 0.5)
    assert m.sum() == 3 and m[0, 0] and m[0, 1] and m[1, 0]


def test_fastgrnn_cell_follows_its_equations():
    import keras

    from mcuforge.train.rnn_cells import FastGRNNCell

    rng = np.random.default_rng(0)
    cell = FastGRNNCell(5, rank_w=2, name="c")
    layer = keras.layers.RNN(cell, return_sequences=True)
    x = rng.normal(size=(2, 7, 3)).astype(np.float32)
    got = np.asarray(layer(x))
    w1, w2, u, bz, bh, zeta, nu = [np.asarray(v, np.float64) for v in cell.get_weights()]
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    h = np.zeros((2, 5))
    for t in range(7):
        pre = x[:, t] @ w1 @ w2 + h @ u
        z, c = sig(pre + bz), np.tanh(pre + bh)
        h = (sig(zeta) * (1 - z) + sig(nu)) * c + z * h
        np.testing.assert_allclose(got[:, t], h, rtol=1e-5, atol=1e-6)


def synthetic_bags(path, n=240, steps=40, seed=0):
    """Noise bags; positive bags (classes 1, 2) hold a short pattern at a random place."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 0.3, (n, steps, 2)).astype(np.float32)
    y = rng.integers(0, 3, n)
    for i in np.flatnonzero(y):
        s = rng.integers(0, steps - 8)
        X[i, s:s + 8, y[i] - 1] += 2.0
    np.savez(path, X=X, y=y, labels=np.array(["noise", "a", "b"]), negative=0)
    return path


def test_npz_loader_refuses_bad_files(tmp_path):
    np.savez(tmp_path / "bad.npz", X=np.zeros((3, 4)), y=np.zeros(3, int))
    with pytest.raises(ValueError, match=r"X must be \[N, T, d\]"):
        load_sequences(tmp_path / "bad.npz")
    np.savez(tmp_path / "nolab.npz", X=np.zeros((3, 4, 1)))
    with pytest.raises(ValueError, match="needs arrays X"):
        load_sequences(tmp_path / "nolab.npz")
    mask = stratified_split(np.array([0] * 10 + [1] * 5), 0.2, seed=1)
    assert mask[:10].sum() == 2 and mask[10:].sum() == 1


def test_saved_sequences_load_back_with_their_splits(tmp_path):
    from mcuforge.data.sequences import save_sequences

    data = load_sequences(synthetic_bags(tmp_path / "bags.npz", n=60))
    again = load_sequences(save_sequences(data, tmp_path / "again.npz"))
    assert (again.labels, again.negative) == (data.labels, data.negative)
    for s in ("train", "validation", "test"):
        assert np.array_equal(again.splits[s][1], data.splits[s][1])
        np.testing.assert_allclose(again.splits[s][0], data.splits[s][0], atol=1e-4)  # standardized already


def test_aeon_set_reads_offline():
    d = load_sequences("aeon:BasicMotions")
    assert d.labels == ["badminton", "running", "standing", "walking"] and d.negative is None
    assert d.split("train")[0].shape[1:] == (100, 6) and len(d.split("test")[1]) == 40
    assert len(d.split("train")[1]) + len(d.split("validation")[1]) == 40
    with pytest.raises(ValueError, match="cannot be read offline"):
        load_sequences("aeon:NoSuchSet")


@pytest.mark.parametrize("cell", ["fastgrnn", "lstm"])
def test_emi_learns_a_multiple_instance_task_and_exits_early(tmp_path, cell):
    data = load_sequences(synthetic_bags(tmp_path / "bags.npz"))
    cfg = RnnConfig(cell=cell, hidden=16, window=12, stride=4, emi=True, rounds=3, epochs=8,
                    batch_size=32, learning_rate=0.02, k=1, p_hat=0.9, kappa=2)
    model, report = train_rnn(data, cfg, progress=False)
    assert report["test_accuracy"] >= 0.85, report  # chance is 1/3
    assert report["test_mean_steps"] < report["test_full_steps"]  # early exit saved steps
    assert report["rounds"] and report["rounds"][0]["relabelled"] > 0  # relabelling happened
    path = save_rnn(model, cfg, data, tmp_path / "m.rnn.keras", report)
    again, cfg2, meta = load_rnn(path)
    assert cfg2 == cfg and meta["labels"] == ["noise", "a", "b"] and meta["negative"] == 0
    X, y = data.split("test")
    assert evaluate(again, cfg, X, y, 0).accuracy == report["test_accuracy"]
    sweep = exit_sweep(again, cfg, X, y, 0, (0.5, 0.7, 0.9, 0.99))
    at = sweep[2]  # the trained threshold: the same decisions as the report's
    assert (at["accuracy"], at["mean_steps"]) == (report["test_accuracy"], report["test_mean_steps"])
    steps = [s["mean_steps"] for s in sweep]
    assert steps == sorted(steps) and steps[0] < steps[-1]  # a lower threshold exits no later, here earlier
    assert all(s["savings"] == s["full_steps"] / s["mean_steps"] for s in sweep)


def test_mi_rnn_alone_runs_every_window_and_keeps_the_bag_rule(tmp_path):
    from mcuforge.rnn.rule import RnnRule

    data = load_sequences(synthetic_bags(tmp_path / "bags.npz"))
    cfg = RnnConfig(cell="lstm", hidden=16, window=12, stride=4, emi=True, early_exit=False, rounds=2, epochs=8,
                    batch_size=32, learning_rate=0.02, k=1)
    model, report = train_rnn(data, cfg, progress=False)
    assert report["test_mean_steps"] == report["test_full_steps"]  # no early exit
    assert report["test_accuracy"] >= 0.85, report  # chance is 1/3
    path = save_rnn(model, cfg, data, tmp_path / "mi.rnn.keras", report)
    rule = RnnRule.from_meta(load_rnn(path)[2], classes=3)
    assert not rule.early_exit and rule.bag_rule and rule.stride == 4


def test_fastgrnn_sparsity_and_low_rank(tmp_path):
    data = load_sequences(synthetic_bags(tmp_path / "bags.npz", n=120))
    cfg = RnnConfig(cell="fastgrnn", hidden=16, window=12, stride=4, rank=4, sparsity=0.5, rounds=1,
                    epochs=6, k=1)
    model, report = train_rnn(data, cfg, progress=False)
    cell = model.get_layer("rnn").cell
    for v in cell.matrices():
        w = np.asarray(v.numpy())
        assert np.count_nonzero(w) == round(0.5 * w.size), v.name
    assert report["nonzero_params"] < report["params"]


def test_cli_refuses_emi_without_a_negative_class(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "mcuforge", "train", "rnn", "--data", "aeon:BasicMotions", "--emi",
                        "-o", str(tmp_path / "m.rnn.keras")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "EMI needs a negative class" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "m.rnn.keras").exists()
