"""Generated projects: readable C with one call per layer, a manifest, and refusals before any C is written."""
from __future__ import annotations

import json
import re

import pytest

from mcuforge.project import generate
from mcuforge.model.errors import UnsupportedOpError
from mcuforge.plan.budget import BudgetError
from models.zoo import SUPPORTED, ZOO


@pytest.mark.parametrize("name", SUPPORTED)
def test_generated_project_reads_like_hand_written_c(name, tmp_path):
    project = generate(ZOO[name](), "netduinoplus2", tmp_path / name, name=name)
    model_c = (tmp_path / name / "model" / "model.c").read_text()
    manifest = json.loads((tmp_path / name / "mcuforge.json").read_text())
    layers = manifest["layers"]
    assert len(layers) == len(project.layers) > 0
    # One call per layer, bracketed by the profiling marks, in order.
    begins = [int(m) for m in re.findall(r"MF_LAYER_BEGIN\((\d+)\);", model_c)]
    assert begins == list(range(len(layers)))
    # Shapes and quantization in comments; weights const (flash); one arena; no malloc.
    assert "*   in:  " in model_c and "scale" in model_c
    assert re.search(r"MF_ARENA_DEFINE\(%d\);" % max(manifest["arena_bytes"], 8), model_c)
    assert "malloc(" not in model_c
    assert all(line.startswith("static const") for line in model_c.splitlines() if re.match(r"static \w+ W\d+_", line))
    for key in ("model_hash", "firmware_hash", "board", "arena_bytes", "inputs", "outputs", "macs"):
        assert key in manifest
    assert len(manifest["firmware_hash"]) == 16
    assert (tmp_path / name / "Makefile").exists()


def test_regenerating_gives_the_same_firmware_hash(tmp_path):
    a = generate(ZOO["dense_flatten"](), "netduinoplus2", tmp_path / "a")
    b = generate(ZOO["dense_flatten"](), "netduinoplus2", tmp_path / "b")
    c = generate(ZOO["pooling"](), "netduinoplus2", tmp_path / "c")
    assert a.firmware_hash == b.firmware_hash != c.firmware_hash


def test_unsupported_op_is_refused_before_any_c_is_written(tmp_path):
    with pytest.raises(UnsupportedOpError) as err:
        generate(ZOO["unsupported_tanh"](), "netduinoplus2", tmp_path / "out")
    msg = str(err.value)
    assert "TANH" in msg and "CONV_2D" in msg  # the op and the supported list
    assert re.search(r"\b(index|operator|layer)\b", msg)
    assert not (tmp_path / "out" / "model" / "model.c").exists()


def test_model_too_big_for_the_board_names_the_bytes(tmp_path):
    with pytest.raises(BudgetError) as err:
        generate(ZOO["too_big"](), "netduinoplus2", tmp_path / "out")
    msg = str(err.value)
    assert "flash" in msg and "1,048,576" in msg and "over" in msg
    assert not (tmp_path / "out" / "model" / "model.c").exists()
