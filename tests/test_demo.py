"""The main job, kept small: a tiny spoken dataset, a short training, the test clips on the emulated board."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


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
