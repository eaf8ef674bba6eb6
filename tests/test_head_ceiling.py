"""bench/head_ceiling.py: the offline probe and the rule runs on synthetic embeddings."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import head_ceiling  # noqa: E402


def _embeddings(separable: bool, pretrained=3, new=2, dim=16, per=60, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4.0, (pretrained + new, dim))
    if not separable:
        centers[pretrained:] = centers[0]  # the new words land where old class 0 does

    def draw():
        y = np.repeat(np.arange(pretrained + new), per)
        return (np.abs(centers[y] + rng.normal(0, 1.0, (len(y), dim)))).astype(np.float32), y

    w = rng.normal(0, 0.1, (pretrained, dim)).astype(np.float32)
    return {"train": draw(), "test": draw(), "head": (w, np.zeros(pretrained, np.float32)), "pretrained": pretrained}


def test_probe_separates_what_the_embedding_separates():
    good = head_ceiling.probe(_embeddings(True), 5, 3)
    assert good["all"] > 0.95 and good["new"] > 0.95
    bad = head_ceiling.probe(_embeddings(False), 5, 3)
    # three classes share one cluster: at best one of them is right there
    assert bad["all"] < 0.75


def test_rule_runs_learn_new_classes_on_a_separable_embedding():
    E = _embeddings(True)
    r = head_ceiling.rule_run(E, "tinyol", n_new=2, train_new=40, train_old=10, lr=0.05, passes=2)
    assert r["new"] > 0.8 and 0.0 <= r["old"] <= 1.0


def test_bench_entry_points_parse(capsys):
    """`make bench` runs `python -m bench`; nothing else imports it, so a broken module would go unseen."""
    import pytest

    from bench import __main__ as bench_main

    for main in (bench_main.main, head_ceiling.main):
        with pytest.raises(SystemExit) as exc:
            main(["--help"])
        assert exc.value.code == 0
    assert "ceiling" in capsys.readouterr().out
