"""Structure-aware mutation fuzz of every shipped zoo model (tests/model_fuzz.py): each case is
compiled (read, lowered, planned, rendered to C) or refused with a ModelError, never anything else.

Deterministic: the checked-in model bytes and seeds 0..CASES-1 give the same cases on every
machine. ``python -m bench fuzz`` runs the same engine for 100,000 cases and more.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from model_fuzz import fuzz_model
from models.zoo import REFUSED, SUPPORTED, ZOO

CASES = 120  # per model: 19 models, ~2,300 cases


@pytest.mark.parametrize("name", list(ZOO))
def test_mutations_compile_or_are_refused(name):
    res = fuzz_model(name, ZOO[name](), CASES)
    assert res.executions == CASES
    assert not res.crashes, "\n\n".join(
        f"{c.model} seed {c.seed}: {c.what}\n{c.error}\n{c.trace}" for c in res.crashes[:3])
    assert res.refusals > 0
    if name in SUPPORTED:
        # the cases reach code generation too, not only the reader's checks
        assert res.compiled > 0
    else:
        assert name in REFUSED



def test_bench_entry_prints_the_figures(capsys):
    """`python -m bench fuzz` (bench/fuzz.py) on 2 cases a model, so that the entry point cannot rot."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ sits beside tests/
    from bench import __main__ as bench_main

    cases = 2 * len(ZOO)
    assert bench_main.main(["fuzz", "--cases", str(cases), "--atheris-runs", "0"]) == 0
    out = capsys.readouterr().out
    assert "all models" in out and f"{cases} executions" in out and "crashes=0" in out


def test_bench_mutation_run_stopped_by_ctrl_c_prints_the_rows_done_and_exits_130(capsys, monkeypatch):
    """A SIGINT (as from Ctrl-C) landing in the 6th case of `python -m bench fuzz`'s mutation run:
    the first model's row, the second's 2 finished cases marked interrupted, the totals of those
    5, INTERRUPTED, exit 130 (it used to end in a traceback with no table)."""
    import signal

    import model_fuzz

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench import __main__ as bench_main

    calls, real_run_case = [], model_fuzz.run_case

    def run_case(data, board):
        calls.append(1)
        if len(calls) == 6:
            signal.raise_signal(signal.SIGINT)  # Python's handler raises KeyboardInterrupt here
        return real_run_case(data, board)

    monkeypatch.setattr(model_fuzz, "run_case", run_case)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)  # a worker may run with it ignored
    try:
        rc = bench_main.main(["fuzz", "--cases", str(3 * len(ZOO)), "--atheris-runs", "1000"])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C reached the caller, no table printed")
    finally:
        signal.signal(signal.SIGINT, old)
    out = capsys.readouterr().out
    assert rc == 130, out
    first, second = list(ZOO)[:2]
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in ([first], [second])}
    assert rows[first][1] == "3" and rows[second][1:3] == ["(interrupted)", "2"], out
    assert "5 executions in" in out and "crashes=0" in out
    assert f"INTERRUPTED (SIGINT) after 5 of the {3 * len(ZOO)} cases asked" in out
    assert "coverage-guided reader" not in out
