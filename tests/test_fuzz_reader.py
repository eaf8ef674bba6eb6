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


def test_bench_reports_a_sigint_stopped_run_as_interrupted_not_as_a_crash(tmp_path):
    """Ctrl-C (SIGINT to the group) during `python -m bench fuzz`'s atheris run: the executions made so
    far, crashes=0, INTERRUPTED, exit 130 (it used to say crashes=1)."""
    import os
    import signal
    import time

    from conftest import default_sigint

    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the bench's temporary folder, to watch the fuzzer's log
    proc = subprocess.Popen([sys.executable, "-m", "bench", "fuzz", "--cases", "0", "--atheris-runs", "100000000"],
                            cwd=TESTS.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 300
    while not any("pulse" in p.read_text(errors="replace") for p in tmp_path.glob("*/log")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "crashes=0" in out and "INTERRUPTED (SIGINT) after" in out, out + err
    executions = int(out.split("(atheris): ")[1].split(" executions")[0].replace(",", ""))
    assert executions >= 128  # "pulse" is first printed at #128
