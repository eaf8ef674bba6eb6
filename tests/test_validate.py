"""``validate`` end to end on QEMU: every zoo model on every emulated board, bit-exact against TFLM and the
numpy reference."""
from __future__ import annotations

import numpy as np
import pytest

from mcuforge.validation import make_inputs, validate
from mcuforge.model.tflite import load_tflite
from mcuforge.reference.executor import run_graph
from mcuforge.results.store import ResultsStore
from conftest import EMULATED_BOARDS
from models.zoo import SUPPORTED, ZOO


@pytest.mark.qemu
@pytest.mark.parametrize("board", EMULATED_BOARDS)
@pytest.mark.parametrize("name", SUPPORTED)
def test_zoo_model_is_bit_exact_on_board(name, board, tmp_path):
    data = ZOO[name]()
    graph = load_tflite(data)
    x = make_inputs(graph, 4, seed=1)
    store = ResultsStore(tmp_path / "r.db")
    v = validate(data, board, inputs=x, workdir=tmp_path / "fw", store=store, progress=False)
    assert v.mismatches == 0 and v.max_abs_diff == 0.0, v.summary()
    assert v.samples == 4 and len(v.cycles) == 4 and min(v.cycles) > 0
    assert v.cycles_kind == "emulated-instructions"
    assert 0 < v.arena_bytes <= v.reference_arena_bytes
    assert v.flash_bytes > 0 and v.ram_bytes >= v.arena_bytes
    # The board also equals the numpy reference executor, output by output.
    for xi, got in zip(x, v.outputs):
        want = run_graph(graph, [xi[None]])[0]
        np.testing.assert_array_equal(got.reshape(want.shape), want)
    # Stored: one run with its per-sample rows.
    run = store.runs(kind="validate")[0]
    assert run.status == "ok" and len(store.samples(run.id)) == 4


@pytest.mark.qemu
def test_emulated_cycle_counts_are_repeatable(tmp_path):
    data = ZOO["dense_flatten"]()
    x = make_inputs(load_tflite(data), 3, seed=2)
    a = validate(data, "netduinoplus2", inputs=x, workdir=tmp_path / "a", progress=False)
    b = validate(data, "netduinoplus2", inputs=x, workdir=tmp_path / "b", progress=False)
    assert all(abs(p - q) <= max(2, 0.001 * p) for p, q in zip(a.cycles, b.cycles)), (a.cycles, b.cycles)
