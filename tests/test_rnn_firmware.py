"""The generated EMI-RNN firmware (one step function call per cell, the hidden state a state
tensor, windowing / early exit / bag rule in firmware/rnn/) against its numpy twin
(mcuforge.rnn.reference): every bag's class, instance classes and exit steps equal on the
emulated board, for each cell, with and without EMI."""
from __future__ import annotations

import numpy as np
import pytest

from mcuforge.data.sequences import load_sequences
from mcuforge.model.loader import load
from mcuforge.rnn.reference import run_bag, top_class
from mcuforge.rnn.rule import RnnRule
from mcuforge.train.rnn import RnnConfig, build_model, save_rnn


def bags(path, n=8, steps=20, d=3, seed=0):
    """n test bags (and two bags each for the train and validation splits a data set needs)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (n + 4, steps, d)).astype(np.float32)
    y = rng.integers(0, 3, n + 4)
    split = np.array(["test"] * n + ["train", "train", "validation", "validation"])
    np.savez(path, X=X, y=y, split=split, labels=np.array(["noise", "a", "b"]), negative=0)
    return path


def untrained(tmp_path, cell, **cfg_kw):
    """A model with its initial (seeded) weights: the device must follow whatever it computes;
    a low p_hat makes early exits happen."""
    import keras

    keras.utils.set_random_seed(1)
    data = load_sequences(bags(tmp_path / "bags.npz"))
    cfg = RnnConfig(cell=cell, hidden=6, window=8, stride=4, k=2, p_hat=0.4, kappa=2, **cfg_kw)
    window = min(cfg.window, data.steps) if cfg.emi else data.steps
    model = build_model(cfg, data.input_dim, 3, window)
    for w in model.weights:  # spread the initial weights so the classes differ
        w.assign(np.asarray(w.numpy()) * 2.0)
    return save_rnn(model, cfg, data, tmp_path / f"{cell}.rnn.keras"), tmp_path / "bags.npz"


def test_the_step_graph_holds_one_cell_and_its_state(tmp_path):
    path, _ = untrained(tmp_path, "lstm")
    m = load(path)
    assert m.kind == "rnn" and [op.kind for op in m.graph.ops] == ["lstm_f32", "dense_f32"]
    assert [t.name for t in m.graph.persistent()] == ["h", "c"]
    assert all(t.storage == "state" for t in m.graph.persistent())


def test_twin_equals_the_keras_model_on_whole_windows(tmp_path):
    import keras

    from mcuforge.train.rnn import load_rnn

    path, npz = untrained(tmp_path, "fastgrnn", rank=2, emi=False)
    m, (model, cfg, _) = load(path), load_rnn(path)
    rule = RnnRule.from_meta(m.meta, classes=3)
    X = np.load(npz)["X"][:8]
    logits = np.asarray(keras.ops.convert_to_numpy(model(X)))[:, -1]
    for bag, lg in zip(X, logits):
        assert run_bag(m.graph, rule, bag).cls == top_class(lg, rule.p_hat)[0]


@pytest.mark.parametrize("cell,kw,board", [
    pytest.param("fastgrnn", dict(rank=2), "netduinoplus2", marks=pytest.mark.qemu),
    pytest.param("lstm", {}, "netduinoplus2", marks=pytest.mark.qemu),
    pytest.param("lstm", {}, "uno", marks=pytest.mark.simavr)])  # no FPU: lstm_q
def test_board_decides_every_bag_as_the_twin(tmp_path, cell, kw, board):
    from mcuforge import api

    path, npz = untrained(tmp_path, cell, **kw)
    v = api.validate(path, board, data=str(npz), workdir=tmp_path / "fw", progress=False)
    assert v.samples == 8 and v.mismatches == 0 and v.accuracy_board == v.accuracy_host, v.summary()
    assert all(len(b.exit_steps) == b.instances == 4 for b in v.board_results)
    assert v.mean_exit_step < 8 and v.mean_steps < v.full_steps  # some instances stopped early
    assert {b.cls for b in v.board_results} != {0}  # the bag rule picked positives somewhere
    assert v.cycles_kind == {"uno": "simulated-cycles"}.get(board, "emulated-instructions") and min(v.cycles) > 0


@pytest.mark.qemu
def test_validate_cli_without_emi(tmp_path):
    """A plain GRU (no EMI: one full window per bag, no early exit) through the CLI and its --json."""
    import json
    import subprocess
    import sys

    path, npz = untrained(tmp_path, "gru", emi=False)
    r = subprocess.run([sys.executable, "-m", "mcuforge", "validate", str(path), "-b", "netduinoplus2", "--data",
                        str(npz), "--json", str(tmp_path / "v.json"), "--workdir", str(tmp_path / "fw"),
                        "--db", str(tmp_path / "r.db")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads((tmp_path / "v.json").read_text())
    assert {"board", "samples", "mismatches", "accuracy_board", "accuracy_host", "cycles_median", "cycles_kind",
            "mean_exit_step", "flash_bytes", "ram_bytes"} <= set(s)
    assert s["samples"] == 8 and s["mismatches"] == 0 and s["accuracy_board"] == s["accuracy_host"]
    assert s["mean_exit_step"] == s["mean_steps"] == s["full_steps"] == 20  # one whole bag, no exit
    assert "every bag decided as by the twin" in r.stdout
