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
