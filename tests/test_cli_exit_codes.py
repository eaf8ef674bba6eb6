"""The documented exit codes end to end, on the emulated board: 1 a wrong output, 4 a build failure,
5 a dead port or board, 130 interrupted (keeping what was measured); a SIGKILLed session keeps its rows."""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import default_sigint

from mcuforge.results.store import ResultsStore
from models.zoo import ZOO

pytestmark = pytest.mark.qemu


def mcuforge(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "mcuforge", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def exits(p, code):
    assert p.returncode == code, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert "Traceback" not in p.stderr, p.stderr
    return p


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A generated and built project of a small model, and inputs for it."""
    root = tmp_path_factory.mktemp("exit")
    model = root / "m.tflite"
    model.write_bytes(ZOO["dense_flatten"]())
    exits(mcuforge("generate", model, "-o", root / "fw"), 0)
    exits(mcuforge("build", root / "fw"), 0)
    x = np.random.default_rng(1).integers(-128, 128, (4, 8, 8, 2)).astype(np.int8)
    np.save(root / "x.npy", x)
    return root, model


def _copy_project(src, dst):
    import shutil

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("build"))
    return dst


def _corrupt_one_weight(model_c):
    """Negate the first weight of the last weight array (the output layer): a one-number change."""
    text = model_c.read_text()
    # a model weight array, or one a DSP kernel declared in its own order (mcuforge.ops._conv_dsp)
    arrays = r"static const int8_t (?:W\d+_\w+|L\d+_filter)\[\d+\](?: MF_CONST| MF_DSP_ALIGN)? = \{\s*(-?\d+)"
    last = list(re.finditer(arrays, text))[-1]
    value = int(last.group(1))
    changed = text[:last.start(1)] + str(-value if value not in (0, -128) else 100) + text[last.end(1):]
    model_c.write_text(changed)


def test_validate_sees_a_corrupted_weight_and_exits_1(built, tmp_path):
    root, model = built
    exits(mcuforge("validate", model, "--project", root / "fw", "--inputs", root / "x.npy",
                   "--db", tmp_path / "ok.db"), 0)  # the untouched project is bit-exact
    fw = _copy_project(root / "fw", tmp_path / "fw")
    _corrupt_one_weight(fw / "model" / "model.c")
    p = exits(mcuforge("validate", model, "--project", fw, "--inputs", root / "x.npy", "--json", tmp_path / "v.json",
                       "--db", tmp_path / "r.db"), 1)
    v = json.loads((tmp_path / "v.json").read_text())
    assert v["samples"] == 4 and v["mismatches"] >= 1 and v["max_abs_diff"] > 0
    assert f"{v['mismatches']} of 4 samples DIFFER from the TFLM interpreter" in p.stdout
    assert "sample/s" not in p.stderr and "validate:" not in p.stderr  # no progress bar in a log
    with ResultsStore(tmp_path / "r.db", readonly=True) as s:
        (run,) = s.runs()
        assert run.status == "failed" and sum(r.mismatches > 0 for r in s.samples(run.id)) == v["mismatches"]


def test_a_project_of_another_model_is_refused(built, tmp_path):
    root, _ = built
    other = tmp_path / "other.tflite"
    other.write_bytes(ZOO["pooling"]())
    exits(mcuforge("validate", other, "--project", root / "fw", "--db", tmp_path / "r.db"), 2)


def test_build_failure_exits_4(built, tmp_path):
    root, _ = built
    fw = _copy_project(root / "fw", tmp_path / "fw")
    (fw / "model" / "model.c").write_text((fw / "model" / "model.c").read_text() + "\nint broken(void) { return }\n")
    p = exits(mcuforge("build", fw), 4)
    assert "model.c" in p.stderr and "error" in p.stderr


def test_dead_port_or_board_exits_5(built, tmp_path):
    root, _ = built
    # A real flashing tool against a serial port with no board behind it.
    p = exits(mcuforge("flash", root / "fw", "--method", "stm32flash", "--port", tmp_path / "ttyNOPE"), 5)
    assert "stm32flash failed" in p.stderr and "ttyNOPE" in p.stderr
    # The real openocd with no ST-LINK attached, retried as asked.
    p = exits(mcuforge("flash", root / "fw", "--method", "openocd", "--retries", "1", "--timeout", "60"), 5)
    assert "openocd failed (exit 1) (2 attempts)" in p.stderr and "open failed" in p.stderr
    # The emulated board answers, but with other firmware than the project says: the link refuses it.
    fw = _copy_project(root / "fw", tmp_path / "fw")
    manifest = json.loads((fw / "mcuforge.json").read_text())
    manifest["firmware_hash"] = "0" * 16
    (fw / "mcuforge.json").write_text(json.dumps(manifest))
    exits(mcuforge("build", fw), 0)
    p = exits(mcuforge("flash", fw), 5)
    assert "0" * 16 in p.stderr


def test_flash_prints_readable_values(built):
    root, _ = built
    p = exits(mcuforge("flash", root / "fw", "--json", "-"), 0)
    hello = json.loads(p.stdout)
    assert hello["inputs"] == [dict(dtype="int8", elements=128, bytes=128)]
    assert "inputs: int8 x 128 (128 B)" in p.stderr and "dtype(" not in p.stderr and "({" not in p.stderr


def _start_validate(model, db, work, samples=20000):
    return subprocess.Popen([sys.executable, "-m", "mcuforge", "validate", str(model), "--samples", str(samples),
                             "--db", str(db), "--workdir", str(work)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)


def _wait_for_samples(db, n, proc, timeout=300.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
                    if c.execute("SELECT COUNT(*) FROM samples").fetchone()[0] >= n:
                        return
            except sqlite3.OperationalError:
                pass  # tables not created yet
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} samples after {timeout} s")


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


def test_sigint_exits_130_and_keeps_what_was_measured(built, tmp_path):
    root, model = built
    db = tmp_path / "r.db"
    proc = _start_validate(model, db, tmp_path / "w")
    _wait_for_samples(db, 3, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    with ResultsStore(db, readonly=True) as s:
        (run,) = s.runs()
        rows = s.samples(run.id)
        assert run.status == "interrupted" and run.finished_at is not None
        assert len(rows) >= 3 and [r.index for r in rows] == list(range(len(rows)))
        assert all(r.mismatches == 0 and r.cycles > 0 for r in rows)


def test_sigkill_leaves_every_committed_row_and_the_run_unfinished(built, tmp_path):
    root, model = built
    db = tmp_path / "r.db"
    proc = _start_validate(model, db, tmp_path / "w")
    _wait_for_samples(db, 3, proc)
    children = _children(proc.pid)  # its QEMU, orphaned by the kill
    proc.kill()  # SIGKILL: no handler, no cleanup
    proc.communicate(timeout=60)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    with ResultsStore(db, readonly=True) as s:
        (run,) = s.runs()
        rows = s.samples(run.id)
        assert run.status == "running" and run.finished_at is None  # never marked finished
        assert len(rows) >= 3 and [r.index for r in rows] == list(range(len(rows)))
    p = exits(mcuforge("report", "--db", db, "-o", tmp_path / "r.html"), 0)
    assert "did not finish" in (tmp_path / "r.html").read_text()
