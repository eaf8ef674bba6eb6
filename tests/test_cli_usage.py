"""Usage errors are found before anything is built: exit 2, a message naming the problem, no traceback,
no project folder, no progress bar."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from models.zoo import ZOO


def mcuforge(*args):
    return subprocess.run([sys.executable, "-m", "mcuforge", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.tflite"
    path.write_bytes(ZOO["dense_flatten"]())
    return path


def usage_error(p, *words):
    assert p.returncode == 2, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert "Traceback" not in p.stderr and "it/s" not in p.stderr and "sample/s" not in p.stderr, p.stderr
    for w in words:
        assert w in p.stderr, p.stderr


@pytest.mark.parametrize("args,words", [
    # (--port alone reaches a board already running there: tests/test_link_faults.py)
    (["--method", "qemu", "--port", "/dev/ttyACM0"], ["--port /dev/ttyACM0", "emulated board"]),
    (["--method", "bogus"], ["unknown flash method 'bogus'", "openocd"]),
    (["--method", "openocd", "-b", "mps2-an386"], ["does not support flash method 'openocd'"]),
    (["-b", "nosuchboard"], ["nosuchboard"]),
    (["--samples", "0"], ["--samples", ">= 1"]),
    (["--samples", "-3"], ["--samples", ">= 1"]),
])
def test_validate_options_checked_before_building(model, tmp_path, args, words):
    work = tmp_path / "fw"
    usage_error(mcuforge("validate", model, "--workdir", work, "--db", tmp_path / "r.db", *args), *words)
    assert not work.exists()


def test_bad_inputs_files(model, tmp_path):
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((0, 8, 8, 2), np.int8))
    text = tmp_path / "x.npy"
    text.write_text("1 2 3\n4 5 6\n")
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    usage_error(mcuforge("validate", model, "--inputs", empty, "--workdir", tmp_path / "fw"), "0 inputs")
    usage_error(mcuforge("validate", model, "--inputs", text, "--workdir", tmp_path / "fw"),
                "not a .npy file", "numpy.save")
    usage_error(mcuforge("validate", model, "--inputs", pickled, "--workdir", tmp_path / "fw"), "not a plain numpy array")
    usage_error(mcuforge("validate", model, "--inputs", tmp_path / "missing.npy"), "missing.npy")
    assert not (tmp_path / "fw").exists()


def test_profile_and_flash_options(model, tmp_path):
    usage_error(mcuforge("profile", model, "--runs", "0", "--workdir", tmp_path / "fw"), "--runs")
    usage_error(mcuforge("profile", model, "--method", "bogus", "--workdir", tmp_path / "fw"), "unknown flash method")
    assert not (tmp_path / "fw").exists()
    assert mcuforge("generate", model, "-o", tmp_path / "p").returncode == 0
    usage_error(mcuforge("flash", tmp_path / "p", "--method", "bogus"), "unknown flash method")
    # --port alone: the board already runs there (nothing is flashed); here there is none
    p = mcuforge("flash", tmp_path / "p", "--port", tmp_path / "ttyNOPE")
    assert p.returncode == 5 and "cannot open serial port" in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_build_of_an_arduino_project_names_its_tool(tmp_path):
    """It exited 4 (build failed) with "is a arduino project"; nothing was built: a usage error."""
    model = tmp_path / "m.tflite"
    model.write_bytes(ZOO["uno_mlp"]())
    assert mcuforge("generate", model, "-b", "uno", "--format", "arduino", "-o", tmp_path / "p").returncode == 0
    usage_error(mcuforge("build", tmp_path / "p"), "--format arduino", "build it with the Arduino IDE",
                "--format make")
    assert not (tmp_path / "p" / "build").exists()
    usage_error(mcuforge("flash", tmp_path / "p"), "--format arduino", "no firmware to flash",
                "build it with the Arduino IDE", "--format make")  # was "no build/firmware.elf" (exit 5)


@pytest.mark.parametrize("args", [["--micropython-board", "MPS2_AN385"],
                                  ["--format", "micropython", "--micropython-port", "unix"]])
def test_micropython_build_options_without_the_checkout_are_refused(model, tmp_path, args):
    """They used to be ignored: a project written, no firmware built, exit 0."""
    usage_error(mcuforge("generate", model, "-o", tmp_path / "p", *args), "go with --micropython-dir")
    assert not (tmp_path / "p").exists()


def test_validate_api_refuses_zero_samples(model):
    from mcuforge.validation import validate
    from mcuforge.errors import UsageError

    with pytest.raises(UsageError, match="no inputs"):
        validate(model, samples=0, progress=False)


def test_outputs_seeds_and_learn_models_checked_first(model, tmp_path):
    work = tmp_path / "fw"
    usage_error(mcuforge("validate", model, "--json", tmp_path / "no" / "v.json", "--workdir", work),
                "--json", "does not exist")
    usage_error(mcuforge("validate", model, "--save-outputs", tmp_path, "--workdir", work), "is a folder")
    usage_error(mcuforge("validate", model, "--seed", "-1", "--workdir", work), "--seed", ">= 0")
    assert not work.exists()
    db = tmp_path / "r.db"
    for verb in ("learn", "federate"):  # the message names both verbs that take a BNN, not only learn
        usage_error(mcuforge(verb, model, "--data", tmp_path, "--new", "zero", "--db", db), "not a BNN .keras",
                    "learn, federate")
    bnn = tmp_path / "b.keras"
    bnn.write_bytes(b"PK")
    usage_error(mcuforge("learn", bnn, "--data", tmp_path, "--new", "zero", "--db", db), "not found", "b.json")
    assert not db.exists()


def test_printers_write_where_stdout_is_when_called():
    """`--json -` moves the human-readable text to stderr (cli.main redirects stdout): a printer
    whose default was the sys.stdout of import time wrote that text into the JSON stream."""
    import contextlib
    import importlib
    import inspect
    import io
    import pkgutil

    import mcuforge.commands as commands
    from mcuforge.commands.validate import print_summary
    from mcuforge.validation import Validation

    for info in pkgutil.iter_modules(commands.__path__):
        mod = importlib.import_module(f"mcuforge.commands.{info.name}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            for p in inspect.signature(fn).parameters.values():
                assert not hasattr(p.default, "write"), f"{info.name}.{name}({p.name}=...) binds a stream at import"
    v = Validation(board="netduinoplus2", samples=1, mismatches=0, mismatched_elements=0, max_abs_diff=0.0,
                   cycles=[1000], cycles_kind="emulated-instructions", macs=10, arena_bytes=64,
                   reference_arena_bytes=0, flash_bytes=4000, ram_bytes=800, model_hash="m", firmware_hash="f")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        print_summary(v)
    assert "netduinoplus2: 1 samples" in buf.getvalue()


def test_rnn_rank_must_be_at_least_one(tmp_path):
    """--rank 0 was accepted (a rank-0 W and U); full rank is --rank omitted."""
    from mcuforge.train.rnn import RnnConfig

    usage_error(mcuforge("train", "rnn", "--data", tmp_path, "--rank", "0", "-o", tmp_path / "m.rnn.keras"),
                "--rank", ">= 1")
    with pytest.raises(ValueError, match=r"rank must be >= 1 \(or None for full rank\), got 0"):
        RnnConfig(rank=0)
    assert not list(tmp_path.iterdir())


TRAIN_CASES = [  # (kind, extra args, words the error names); each is found before TensorFlow loads (~20 s)
    ("dscnn-kws", ["-o", "m.bin"], ["-o", ".tflite"]),
    ("dscnn-kws", ["--epochs", "0"], ["--epochs", ">= 1"]),
    ("dscnn-kws", ["--batch-size", "0"], ["--batch-size", ">= 1"]),
    ("dscnn-kws", ["--classes", "yes"], ["--classes", "at least two"]),
    ("dscnn-kws", ["--classes", "yes,maybe"], ["maybe", "no folder of .wav clips"]),
    ("dscnn-kws", ["--data", "missing"], ["missing", "does not exist"]),
    ("bnn-kws", ["-o", "m.h5"], ["-o", ".keras"]),
    ("bnn-kws", ["--float-epochs", "-1"], ["--float-epochs", ">= 0"]),
    ("bnn-kws", ["--float-epochs", "0", "--distill", "0.5"], ["distill", "float phase"]),
    ("rnn", ["-o", "m.bin"], ["-o", ".keras"]),
    ("rnn", ["--epochs", "0"], ["--epochs", ">= 1"]),
]

IN_PROCESS = """
import contextlib, io, json, sys
from mcuforge.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse
            rc = e.code
    out.append([rc, err.getvalue(), "tensorflow" in sys.modules])
print(json.dumps(out))
"""


def test_train_usage_errors_are_found_before_tensorflow_loads(tmp_path):
    """A wrong -o suffix or --epochs 0 was reported only after TensorFlow had loaded."""
    import json

    for word in ("yes", "no"):
        (tmp_path / "data" / word).mkdir(parents=True)
        (tmp_path / "data" / word / "a.wav").write_bytes(b"")  # listed, not read: nothing reaches the audio
    out = {"dscnn-kws": "m.tflite", "bnn-kws": "m.keras", "rnn": "m.rnn.keras"}
    runs = []
    for kind, extra, _ in TRAIN_CASES:
        opts = {"--data": "data", "-o": out[kind], **({} if kind == "rnn" else {"--classes": "yes,no"}),
                **dict(zip(extra[::2], extra[1::2]))}
        opts["--data"], opts["-o"] = str(tmp_path / opts["--data"]), str(tmp_path / opts["-o"])
        runs.append(["train", kind, *[a for kv in opts.items() for a in kv]])
    p = subprocess.run([sys.executable, "-c", IN_PROCESS, json.dumps(runs)], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    for (kind, extra, words), (rc, err, tf_loaded) in zip(TRAIN_CASES, json.loads(p.stdout)):
        assert rc == 2 and not tf_loaded and "Traceback" not in err, (kind, extra, rc, tf_loaded, err)
        for w in words:
            assert w in err, (kind, extra, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.parametrize("text,words", [
    ("{}", ["kws.features.json lacks", "hop", "mean, std", "as 'mcuforge train' writes it"]),
    ("[1]", ["kws.features.json is not a features config (a JSON list, not an object)"]),
    ('{"hop": "160"}', ["kws.features.json lacks", "sample_rate"]),
])
def test_adapt_refuses_a_features_file_without_its_fields(tmp_path, text, words):
    """An empty {} was taken as the defaults (hop 320, no normalization), not what the model was trained on."""
    from models.zoo import fixture

    model = tmp_path / "kws.tflite"
    model.write_bytes(fixture("ds_cnn_kws"))
    (tmp_path / "kws.features.json").write_text(text)
    usage_error(mcuforge("adapt", model, "--data", tmp_path, "--classes", "yes,no", "--db", tmp_path / "r.db"),
                *words)
    assert not (tmp_path / "r.db").exists()


def test_features_file_fields_have_their_types(tmp_path):
    from mcuforge.data.features import FeatureConfig

    path = tmp_path / "f.json"
    FeatureConfig(hop=160).save(path)
    assert FeatureConfig.load(path) == FeatureConfig(hop=160)
    d = dict(FeatureConfig().to_dict(), hop=1.5, fmin=None, mean=True)
    path.write_text(__import__("json").dumps(d))
    with pytest.raises(ValueError, match=r"hop must be an integer, not 1.5; fmin must be a number, not None; "
                                         r"mean must be a number or null, not True"):
        FeatureConfig.load(path)
