"""'mcuforge learn' end to end on QEMU with a tiny untrained BNN: the plumbing, JSON and results DB
(accuracy targets are the demo's business; the learning rules themselves are checked in test_learning_*)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def tiny_bnn_and_data(tmp_path_factory):
    from mcuforge.data.kws import build_kws_dataset
    from mcuforge.train.bnn import BASE_LABELS, BNN_FEATURES, build_bnn_kws, save_bnn

    root = tmp_path_factory.mktemp("learn")
    data = root / "data"
    build_kws_dataset(data, words=["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "zero"],
                      clips_per_voice=1, voices=6, seed=3, progress=False)
    model = build_bnn_kws((*BNN_FEATURES.shape, 1), len(BASE_LABELS), widths=(32, 32), strides=(2, 2),
                          first_filters=16, embedding_dim=32)
    path = save_bnn(model, BNN_FEATURES.with_stats(-6.0, 3.0), BASE_LABELS, root / "bnn.keras")
    return path, data


@pytest.mark.qemu
@pytest.mark.slow
def test_learn_streams_audio_and_stores_every_step(tiny_bnn_and_data, tmp_path):
    model, data = tiny_bnn_and_data
    db, out = tmp_path / "r.db", tmp_path / "learn.json"
    proc = subprocess.run(
        [sys.executable, "-m", "mcuforge", "learn", model, "--data", data, "--new", "zero", "--rule", "lwf",
         "--train-new", "3", "--train-old", "1", "--eval-per-class", "1", "--eval-every", "5",
         "--workdir", tmp_path / "fw", "--db", db, "--json", out], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    s = json.loads(out.read_text())
    for key in ("rule", "new_classes", "accuracy_old", "accuracy_new", "accuracy_all", "update_cycles", "head_bytes"):
        assert s[key] is not None, key
    assert s["rule"] == "lwf" and s["new_classes"] == ["zero"] and s["stream"] == "audio"
    assert s["update_cycles"] > 0 and s["head_bytes"] > 0 and s["cycles_kind"] == "emulated-instructions"

    from mcuforge.results.store import ResultsStore

    store = ResultsStore(db)
    run = store.runs(kind="learn")[0]
    assert run.status == "ok"
    assert len(store.samples(run.id)) == s["train_clips"]
    steps = {m.step for m in store.metrics(run.id, "accuracy_all")}
    assert max(steps) == s["train_clips"] and len(steps) >= 2
    assert store.artifacts(run.id, "head-state")  # checkpoints kept with the run


def test_learn_refuses_a_new_keyword_the_dataset_lacks(tiny_bnn_and_data, tmp_path):
    model, data = tiny_bnn_and_data
    proc = subprocess.run([sys.executable, "-m", "mcuforge", "learn", model, "--data", data, "--new", "seven",
                           "--db", tmp_path / "r.db", "--workdir", tmp_path / "fw"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "seven" in proc.stderr
