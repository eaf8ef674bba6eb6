"""The main job, kept small: a tiny spoken dataset, a short training, the test clips on the emulated board."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest

from test_learning_support import accuracies, head_of, predictions


@pytest.mark.qemu
@pytest.mark.slow
def test_demo_board_accuracy_equals_host_int8_accuracy(tmp_path):
    out = tmp_path / "demo.json"
    proc = subprocess.run(
        [sys.executable, "-m", "mcuforge", "demo", "--part", "int8", "--workdir", tmp_path / "w", "--voices", "8",
         "--clips-per-voice", "1", "--epochs", "2", "--test-samples", "40", "--db", tmp_path / "r.db",
         "--json", out], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    r = json.loads(out.read_text())
    for key in ("accuracy_board", "accuracy_host", "test_samples", "cycles_median", "cycles_kind", "flash_bytes",
                "ram_bytes", "arena_bytes", "reference_arena_bytes"):
        assert key in r
    assert r["accuracy_board"] == r["accuracy_host"] and r["output_mismatches"] == 0
    assert 0 < r["test_samples"] <= 40 and r["cycles_kind"] == "emulated-instructions"
    assert r["arena_bytes"] <= r["reference_arena_bytes"]
    assert "emulated" in proc.stdout and "board" in proc.stdout
    assert (tmp_path / "w" / "kws_dscnn.tflite").exists()


@pytest.mark.qemu
@pytest.mark.slow
def test_demo_learning_part_runs_every_scenario_on_the_board(tmp_path):
    """The learning part, tiny: one BNN epoch, two rules, a few clips. The clips are streamed once through
    the board's front end and backbone (without -icount); every session replays the embeddings the board
    computed, its update counts emulated instructions (-icount)."""
    out = tmp_path / "demo.json"
    proc = subprocess.run(
        [sys.executable, "-m", "mcuforge", "demo", "--part", "learn", "--workdir", tmp_path / "w", "--voices", "6",
         "--clips-per-voice", "1", "--bnn-epochs", "1", "--bnn-float-epochs", "0", "--no-bnn-cache", "--rules", "tinyol,cwr", "--train-new", "2",
         "--train-old", "1", "--eval-per-class", "1", "--db", tmp_path / "r.db", "--json", out],
        capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    r = json.loads(out.read_text())["learning"]
    sessions = r["sessions"]
    assert [(s["scenario"], s["rule"]) for s in sessions] == [
        ("4 new", "tinyol"), ("4 new", "cwr"), ("1 new", "tinyol"), ("1 new", "cwr")]
    assert all(s["stream"] == "replayed board embeddings" and s["cycles_kind"] == "emulated-instructions"
               for s in sessions)
    assert sessions[0]["new_classes"] == ["zero", "one", "two", "three"] and sessions[2]["new_classes"] == ["zero"]
    for s in sessions:
        assert s["update_cycles"] > 0 and s["head_bytes"] > 0
    # every session's accuracies are its final board head's on the held-out embeddings the board computed
    # (the same streamed ones for every session), recomputed on the host from the results DB
    from mcuforge.learning.keywords import load_learn_data
    from mcuforge.results.store import ResultsStore
    from mcuforge.train.bnn import BASE_LABELS

    full = load_learn_data(tmp_path / "w" / "data", list(BASE_LABELS), ["zero", "one", "two", "three"], train_new=2,
                           train_old=1, eval_per_class=1, seed=0)
    with ResultsStore(tmp_path / "r.db") as store:
        first = None
        for s in sessions:
            data = full.first_new(len(s["new_classes"]))
            blob = max(store.artifacts(s["run_id"], "head-state", with_data=True), key=lambda a: (a.step, a.id)).data
            emb = np.load(io.BytesIO(store.artifacts(s["run_id"], "eval-embeddings", with_data=True)[-1].data))
            first = emb if first is None else first
            np.testing.assert_array_equal(emb, first[full.eval_labels < data.pretrained + len(s["new_classes"])])
            want = accuracies(predictions(head_of(r["model"], blob), emb), data.eval_labels, data.pretrained)
            assert {k: s[k] for k in want} == want, (s["scenario"], s["rule"])
    # four new rows of 128 floats + biases make the 4-new head larger than the 1-new one
    assert sessions[0]["head_bytes"] > sessions[2]["head_bytes"]
    assert "paper (best rule)" in proc.stdout and "emulated" in proc.stdout
    assert len(r["paper"]) == 3 and r["paper"][0].startswith("1 new: best new")


def test_paper_comparison_names_the_best_rule_and_the_gap():
    from mcuforge.demo import paper_comparison

    sessions = [dict(scenario="1 new", rule="tinyol", accuracy_new=0.90, accuracy_old=0.6, accuracy_all=0.62),
                dict(scenario="1 new", rule="cwr", accuracy_new=0.96, accuracy_old=0.5, accuracy_all=0.55),
                dict(scenario="4 new", rule="lwf", accuracy_new=0.27, accuracy_old=0.623, accuracy_all=0.535),
                dict(scenario="4 new", rule="tinyol", accuracy_new=0.5, accuracy_old=None, accuracy_all=0.40)]
    lines = paper_comparison(sessions)
    assert lines[0] == "1 new: best new 96.0% (cwr); paper 95%: met"
    assert "4 new: best all 53.5% (lwf); paper 86%: missed by 32.5 points" in lines
    assert "4 new: best old 62.3% (lwf); paper 82%: missed by 19.7 points" in lines
    assert paper_comparison([]) == []


def test_demo_runs_small_by_default_and_full_size_with_full_each_option_overriding_either():
    from mcuforge.cli import build_parser
    from mcuforge.commands.demo import demo_size
    from mcuforge.demo import SIZES
    from mcuforge.train import BNN_EPOCHS, BNN_FLOAT_EPOCHS

    parse = build_parser().parse_args
    assert demo_size(parse(["demo"])) == SIZES["quick"]
    assert demo_size(parse(["demo", "--full"])) == SIZES["full"]
    full = SIZES["full"]  # the full-size protocol: what the demo ran before it had a quick size
    assert (full.bnn_epochs, full.bnn_float_epochs, full.train_new, full.train_old, full.eval_per_class) == (
        BNN_EPOCHS, BNN_FLOAT_EPOCHS, 40, 6, 25)
    assert (full.adapt_tasks, full.adapt_shots, full.adapt_queries, full.adapt_epochs) == (3, 5, 10, 3)  # bench.adapt's
    quick = SIZES["quick"]
    assert quick.bnn_epochs + quick.bnn_float_epochs < full.bnn_epochs + full.bnn_float_epochs
    assert quick.adapt_tasks * quick.adapt_shots * quick.adapt_epochs < full.adapt_tasks * full.adapt_shots * full.adapt_epochs
    assert quick.workdir != full.workdir  # their datasets differ: one folder each
    mixed = demo_size(parse(["demo", "--full", "--bnn-epochs", "3", "--workdir", "w"]))
    assert mixed.bnn_epochs == 3 and mixed.workdir == "w" and mixed.eval_per_class == full.eval_per_class
    assert demo_size(parse(["demo", "--eval-per-class", "2"])).train_new == quick.train_new
