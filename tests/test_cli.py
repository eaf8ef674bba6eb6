"""The ``mcuforge`` command as a user runs it: help everywhere, JSON for scripts, meaningful exit codes."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mcuforge.commands import COMMANDS
from mcuforge.model.tflite import load_tflite
from mcuforge.reference.tflm import tflm_run
from models.zoo import ZOO


def mcuforge(*args, cwd=None, check=None):
    proc = subprocess.run([sys.executable, "-m", "mcuforge", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.parametrize("command", [None] + COMMANDS + ["data kws", "train dscnn-kws", "train bnn-kws"])
def test_help_everywhere(command):
    args = (command.split() if command else []) + ["--help"]
    out = mcuforge(*args, check=0).stdout
    assert "usage: mcuforge" in out


def test_boards_lists_both_emulated_boards_as_json():
    boards = json.loads(mcuforge("boards", "--json", "-", check=0).stdout)  # stdout is only the JSON
    names = {b["name"]: b for b in boards}
    assert {"netduinoplus2", "mps2-an386", "mps2-an385", "mps2-an500"} <= set(names)
    assert names["netduinoplus2"]["flash_bytes"] == 1024 * 1024 and names["netduinoplus2"]["clock_hz"] == 168_000_000
    assert names["netduinoplus2"]["ram_bytes"] == 128 * 1024 and names["netduinoplus2"]["unused_memory"] == {"ccm": 65536}
    assert (names["mps2-an385"]["core"], names["mps2-an385"]["fpu"]) == ("cortex-m3", False)


def _json_tail(stdout: str):
    """The JSON document printed after the human-readable table."""
    start = min(i for i in (stdout.find("["), stdout.find("{")) if i >= 0)
    return json.loads(stdout[start:])


@pytest.mark.qemu
def test_generate_build_flash_validate_profile_report(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(ZOO["dense_flatten"]())
    db = tmp_path / "results.db"
    mcuforge("generate", model, "-b", "netduinoplus2", "-o", tmp_path / "fw", check=0)
    assert (tmp_path / "fw" / "model" / "model.c").exists()
    out = mcuforge("build", tmp_path / "fw", "--json", tmp_path / "size.json", check=0).stdout
    assert "flash total" in out
    size = json.loads((tmp_path / "size.json").read_text())
    assert size["flash_bytes"] > size["rodata"] > 0
    out = mcuforge("flash", tmp_path / "fw", check=0).stdout
    assert "netduinoplus2" in out

    graph = load_tflite(model.read_bytes())
    t = graph.tensors[graph.inputs[0]]
    x = np.random.default_rng(0).integers(-128, 128, (5, *t.shape[1:])).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    mcuforge("validate", model, "--inputs", tmp_path / "x.npy", "--save-outputs", tmp_path / "y.npy",
             "--json", tmp_path / "v.json", "--db", db, check=0)
    v = json.loads((tmp_path / "v.json").read_text())
    for key in ("board", "samples", "mismatches", "max_abs_diff", "cycles_median", "cycles_kind", "macs",
                "arena_bytes", "reference_arena_bytes", "flash_bytes", "ram_bytes"):
        assert key in v
    assert v["samples"] == 5 and v["mismatches"] == 0 and v["cycles_kind"] == "emulated-instructions"
    y = np.load(tmp_path / "y.npy")
    want = np.stack([tflm_run(model.read_bytes(), [xi[None]])[0].reshape(y.shape[1:]) for xi in x])
    np.testing.assert_array_equal(y, want)

    out = mcuforge("profile", model, "--json", tmp_path / "p.json", "--db", db, check=0).stdout
    assert "emulated" in out and "MACs/instr" in out
    p = json.loads((tmp_path / "p.json").read_text())
    assert len(p["layers"]) == len(json.loads((tmp_path / "fw" / "mcuforge.json").read_text())["layers"])
    assert abs(sum(l["share"] for l in p["layers"]) - 1.0) < 1e-6
    assert 0 < p["stack_high_water_bytes"] < p["stack_bytes"] == 8192 and "stack:" in out

    mcuforge("report", "-o", tmp_path / "r.html", "--db", db, check=0)
    html = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64" in html and "validate" in html and "profile" in html


def test_unsupported_op_exits_3_naming_the_op(tmp_path):
    model = tmp_path / "tanh.tflite"
    model.write_bytes(ZOO["unsupported_tanh"]())
    p = mcuforge("generate", model, "-o", tmp_path / "fw", check=3)
    assert "TANH" in p.stderr and "Supported" in p.stderr


def test_model_too_big_exits_3_with_the_numbers(tmp_path):
    model = tmp_path / "big.tflite"
    model.write_bytes(ZOO["too_big"]())
    p = mcuforge("validate", model, check=3)
    assert "flash" in p.stderr and "over" in p.stderr and "1,048,576" in p.stderr


def test_bad_inputs_file_exits_2_naming_the_shape(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(ZOO["dense_flatten"]())
    np.save(tmp_path / "x.npy", np.zeros((3, 7), np.int8))
    p = mcuforge("validate", model, "--inputs", tmp_path / "x.npy", check=2)
    assert "shape" in p.stderr and "(3, 7)" in p.stderr


def test_missing_model_exits_2(tmp_path):
    p = mcuforge("generate", tmp_path / "nope.tflite", "-o", tmp_path / "fw", check=2)
    assert "nope.tflite" in p.stderr
