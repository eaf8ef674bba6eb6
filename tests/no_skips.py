"""A skipped test is a failed test: the Makefile installs everything the suite needs (espeak-ng,
QEMU, the Arm compiler, TensorFlow, tflite-micro), so on a fresh clone nothing may skip. A test
that calls pytest.skip (or a skipif / importorskip that triggers) is reported as failed, with
the skip's reason. Loaded by tests/conftest.py."""
from __future__ import annotations

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} skipped, and nothing may skip here: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A module-level skip (``pytest.importorskip`` at import, ``pytestmark = skipif``) too."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{collector.nodeid} skipped at collection, and nothing may skip here: {reason}"
