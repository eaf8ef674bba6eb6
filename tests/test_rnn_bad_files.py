"""A `.rnn.keras` whose `.json` is missing, unreadable or edited: `generate` refuses it with a
message naming the file and the field and exit 3 (a missing file: 2), never a traceback or
firmware built from a bad window, input size, label list or negative class."""
from __future__ import annotations

import json
import shutil

import pytest

from mcuforge.cli import main
from mcuforge.model.keras_rnn import RnnModelError
from mcuforge.model.loader import load


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small untrained FastGRNN of `mcuforge train rnn` (3 inputs, 3 classes)."""
    import keras

    from mcuforge.data.sequences import load_sequences
    from mcuforge.train.rnn import RnnConfig, build_model, save_rnn
    from test_rnn_firmware import bags

    tmp = tmp_path_factory.mktemp("rnn")
    keras.utils.set_random_seed(1)
    data = load_sequences(bags(tmp / "bags.npz"))
    cfg = RnnConfig(cell="fastgrnn", hidden=4, window=8, stride=4, emi=False, epochs=1)
    path = save_rnn(build_model(cfg, data.input_dim, 3, data.steps), cfg, data, tmp / "m.rnn.keras")
    keras.backend.clear_session()
    return path


def edited(model, tmp_path, edit) -> object:
    """A copy of the model whose .json is changed by ``edit``: a function that edits the
    metadata in place, or what to write instead (text as it is, anything else as JSON)."""
    path = tmp_path / "e.rnn.keras"
    shutil.copy(model, path)
    meta = json.loads(model.with_suffix(".json").read_text())
    if callable(edit):
        edit(meta)
        edit = meta
    path.with_suffix(".json").write_text(edit if isinstance(edit, str) else json.dumps(edit))
    return path


BAD = {
    "config_lacks_a_field": (lambda m: m["config"].pop("cell"), "config lacks cell"),
    "window_negative": (lambda m: m.update(window=-1), "window must be a whole number of steps >= 1, got -1"),
    "window_text": (lambda m: m.update(window="x"), "window must be .*got 'x'"),
    "input_dim_wrong": (lambda m: m.update(input_dim=99), "input_dim 99 is not the model's frame size 3"),
    "labels_missing": (lambda m: m.pop("labels"), "labels must be a list of the model's 3 class names"),
    "negative_out_of_range": (lambda m: m.update(negative=5), r"negative must be none or a class index 0..2, got 5"),
    "json_a_list": ([1, 2], "is not mcuforge-rnn metadata \\(a JSON list, not an object\\)"),
    "json_broken": ("{not json", "is not mcuforge-rnn metadata \\(not JSON"),
    "json_of_another_kind": ({}, "is not mcuforge-rnn metadata"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_sidecar_is_refused_naming_the_field(model, tmp_path, case):
    edit, message = BAD[case]
    with pytest.raises(RnnModelError, match=message) as exc:
        load(edited(model, tmp_path, edit))
    assert "e.rnn.json" in str(exc.value)


def test_generate_exits_3_with_the_message_not_a_traceback(model, tmp_path, capsys):
    """Through the CLI: it used to end in AttributeError: 'list' object has no attribute 'get'."""
    path = edited(model, tmp_path, [1, 2])
    assert main(["generate", str(path), "-o", str(tmp_path / "fw")]) == 3
    err = capsys.readouterr().err
    assert "e.rnn.json is not mcuforge-rnn metadata" in err and "Traceback" not in err
    assert not (tmp_path / "fw").exists()


def test_a_missing_sidecar_names_the_rnn_file(model, tmp_path, capsys):
    """A .rnn.keras without its .json is named as the RNN's (it used to say "BNN file not found")."""
    path = tmp_path / "lone.rnn.keras"
    shutil.copy(model, path)
    assert main(["generate", str(path), "-o", str(tmp_path / "fw")]) == 2
    assert "RNN file not found: " in capsys.readouterr().err


def test_the_model_as_saved_still_loads(model):
    m = load(model)
    assert m.kind == "rnn" and m.meta["config"]["cell"] == "fastgrnn"


def test_a_sequences_file_that_is_not_an_npz_is_named_so(tmp_path):
    """`train rnn --data x.npz` on a text file said "This file contains pickled (object) data"."""
    import numpy as np

    from mcuforge.data.sequences import load_sequences

    text = tmp_path / "x.npz"
    text.write_text("1 2 3\n")
    with pytest.raises(ValueError, match=r"x.npz: not a .npz archive \(write it with numpy.savez"):
        load_sequences(text)
    objects = tmp_path / "o.npz"
    np.savez(objects, X=np.array([{"a": 1}] * 4, dtype=object), y=np.zeros(4, np.int64))
    with pytest.raises(ValueError, match=r"o.npz: X and y must be plain numeric arrays"):
        load_sequences(objects)
