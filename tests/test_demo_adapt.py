"""The demo's adapt part (TinyTrain), tiny: the checked-in DS-CNN as the int8 part's model, four synthetic
'new words', one shot and one query each; last-layer goes through the library's adapt on the board, the
table prints what the board measured and the results DB holds the same; bias is refused on netduinoplus2
as the library says why. Bad --part and --adapt-methods are refused."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mcuforge.cli import main
from models.zoo import fixture
from speech_folder import speech_folder

WORDS = ("zero", "one", "two", "three")


def synthetic_words(root, train=1, test=1, seed=0) -> None:
    """The demo's four new words as tones of four pitches (the last ``test`` clips of each held out)."""
    speech_folder(root, {word: (lambda rng, t, k=k: 0.3 * np.sin(2 * np.pi * 250 * 2 ** k * t)
                                + 0.02 * rng.standard_normal(t.size)) for k, word in enumerate(WORDS)},
                  (train, test, 0), seed)


@pytest.mark.qemu
def test_adapt_part_runs_the_methods_through_the_library_on_the_board(tmp_path, capsys):
    from mcuforge.data.features import FeatureConfig
    from mcuforge.data.speech_commands import load_split
    from mcuforge.results.store import ResultsStore

    work, data = tmp_path / "w", tmp_path / "data"
    work.mkdir()
    (work / "kws_dscnn.tflite").write_bytes(fixture("ds_cnn_kws"))  # the int8 part's model (49x40 input)
    synthetic_words(data)
    raw = load_split(data, list(WORDS), "train", features=FeatureConfig())[0]
    FeatureConfig().with_stats(raw.mean(), raw.std()).save(work / "kws_dscnn.features.json")
    code = main(["demo", "--part", "adapt", "--data", str(data), "--workdir", str(work), "--adapt-methods",
                 "bias,last-layer", "--adapt-tasks", "1", "--adapt-shots", "1", "--adapt-queries", "1",
                 "--adapt-epochs", "1", "--db", str(tmp_path / "r.db"), "--json", str(tmp_path / "d.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    r = json.loads((tmp_path / "d.json").read_text())["adapt"]
    assert r["classes"] == list(WORDS) and [x["method"] for x in r["rows"]] == ["bias", "last-layer"]
    bias, last = r["rows"]
    assert "does not fit netduinoplus2" in bias["refused"] and f"bias: {bias['refused']}" in out
    with ResultsStore(tmp_path / "r.db", readonly=True) as store:
        runs = {run.summary["method"]: run for run in store.runs("adapt")}
        assert runs["bias"].status == "failed"
        run = runs["last-layer"]
        assert (run.id, run.status, run.board, run.cycles_kind) == (last["run_id"], "ok", "netduinoplus2",
                                                                    "emulated-instructions")
        assert store.metric(run.id, "train_memory_bytes") == last["train_memory_bytes"]
        assert store.metric(run.id, "cycles_per_step") == last["cycles_per_step"] > 0
        assert len(store.samples(run.id)) == len(WORDS)  # one query per word, predicted on the board
    row = next(line for line in out.splitlines() if line.startswith("last-layer "))
    assert f"{last['train_memory_bytes']:,}" in row and f"{last['cycles_per_step']:,.0f} emulated instructions" in row
    assert last["updates"] == [{"biases": 1, "weights": {"9": 1.0}}] and last["trained_on"] == "board"
    assert "Kwon et al. 2024" in out and "not like for like" in out


def test_adapt_paper_comparison_gives_the_boards_gaps_beside_the_papers():
    from mcuforge.demo import adapt_paper_comparison

    rows = [dict(method="last-layer", accuracy=0.40, train_memory_bytes=70_000),
            dict(method="bias", refused="does not fit"),
            dict(method="tinytrain", accuracy=0.55, train_memory_bytes=80_000),
            dict(method="full", accuracy=0.50, train_memory_bytes=240_000, trained_on="host (numpy twin ...)")]
    lines = adapt_paper_comparison(rows)
    assert lines[0] == "tinytrain - last-layer: +15.0 points on the board; paper +14.7 points"
    assert lines[1] == "tinytrain - full: +5.0 points on the board; paper +2.4 points"
    assert lines[2].startswith("full / tinytrain training memory: 3.0x (full: its arena plan, trained on the host)")
    assert adapt_paper_comparison(rows[:2]) == []
    arenas = dict(none=64_000, tinytrain=82_000, full=244_000)
    with_none = [dict(method="none", accuracy=0.5, train_memory_bytes=66_000, arena_bytes=arenas["none"]),
                 *(dict(r, arena_bytes=arenas[r["method"]]) for r in rows if r["method"] in ("tinytrain", "full"))]
    assert adapt_paper_comparison(with_none)[-1] == ("full / tinytrain arena beyond inference (the backward's share, "
                                                     "as the paper counts): 180,000 / 18,000 B = 10.0x")


def test_a_bad_part_or_adapt_method_is_refused_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--workdir", str(tmp_path / "w"), "--part", "tinytrain"])
    assert exc.value.code == 2 and "invalid choice: 'tinytrain'" in capsys.readouterr().err
    assert main(["demo", "--workdir", str(tmp_path / "w"), "--adapt-methods", "none,lora"]) == 2
    assert "unknown adapt method(s) ['lora']; methods: none, last-layer" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()  # refused before the dataset is built
