"""The coverage-guided reader target (tests/fuzz_reader.py) for a bounded, repeatable run: a fixed
libFuzzer seed over the checked-in corpus and zoo. 10^6 executions take ~25 CPU minutes here
(~700/s), so the suite runs RUNS and ``python -m bench fuzz`` the 10^6."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
RUNS = 10_000


def test_reader_survives_coverage_guided_inputs(tmp_path):
    (tmp_path / "new").mkdir()
    cmd = [sys.executable, str(TESTS / "fuzz_reader.py"), f"-runs={RUNS}", "-seed=1", "-max_len=8192",
           f"-artifact_prefix={tmp_path}/", str(tmp_path / "new"), str(TESTS / "corpus" / "reader"),
           str(TESTS / "models" / "tflite")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    crashes = sorted(p.name for p in tmp_path.glob("*-*") if p.is_file())
    assert proc.returncode == 0 and not crashes, f"{crashes}\n{proc.stderr[-3000:]}"
    assert f"Done {RUNS} runs" in proc.stderr
    assert "INITED" in proc.stderr and "corp: " in proc.stderr  # it read the seed corpus and fuzzed
