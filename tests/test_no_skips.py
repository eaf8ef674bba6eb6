"""tests/no_skips.py: a skip (pytest.skip, skipif, importorskip) fails the run; xfail does not."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _pytest(path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no_skips", "-q", "-p", "no:cacheprovider",
                           str(path)], capture_output=True, text=True, env=env, cwd=path.parent, timeout=120)


def test_a_skip_is_reported_as_a_failure(tmp_path):
    (tmp_path / "test_x.py").write_text(
        "import pytest\n"
        "def test_ok():\n    pass\n"
        "def test_skips():\n    pytest.skip('espeak-ng not installed')\n"
        "@pytest.mark.skipif(True, reason='no tool')\ndef test_skipif():\n    pass\n"
        "def test_importorskip():\n    pytest.importorskip('no_such_module_here')\n"
        "@pytest.mark.xfail(strict=True)\ndef test_xfail():\n    assert False\n")
    proc = _pytest(tmp_path / "test_x.py")
    # run-time skips fail, a skipif fails in setup (an error); xfail stays what it is
    assert proc.returncode == 1 and "2 failed, 1 passed, 1 xfailed, 1 error" in proc.stdout, proc.stdout
    assert proc.stdout.count("nothing may skip here") >= 3 and "espeak-ng not installed" in proc.stdout


def test_a_module_level_skip_fails_collection(tmp_path):
    (tmp_path / "test_y.py").write_text("import pytest\npytest.importorskip('no_such_module_either')\n"
                                        "def test_never():\n    pass\n")
    proc = _pytest(tmp_path / "test_y.py")
    assert proc.returncode != 0 and "skipped at collection, and nothing may skip here" in proc.stdout, proc.stdout
    assert "no_such_module_either" in proc.stdout
