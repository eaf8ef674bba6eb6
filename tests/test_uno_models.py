"""Models on the Arduino Uno (simavr): every zoo model that fits validates bit-exact against
TFLM, the ones that do not are refused before building with the numbers; the kernels match
their numpy references on the simulated part; counts are exact simulated cycles; the int8
path links no soft-float routine."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from mcuforge.boards import load_board
from mcuforge.project import generate
from mcuforge.validation import make_inputs, validate
from mcuforge.model.tflite import load_tflite
from mcuforge.plan.arena import plan_arena
from mcuforge.plan.budget import BudgetError, estimate, runtime_ram
from mcuforge.reference.executor import run_graph
from mcuforge.target import open_target
from models.zoo import SUPPORTED, ZOO
from test_kernels_misc import random_input
from test_kernels_target import CASES, merge

pytestmark = pytest.mark.simavr

UNO = load_board("uno")


def _fits(name: str) -> bool:
    graph = load_tflite(ZOO[name]())
    b = estimate(graph, plan_arena(graph), UNO)
    return b.ram_needed <= b.ram_available and b.flash_needed <= b.flash_available


FITS = [n for n in SUPPORTED if _fits(n)]
TOO_BIG = [n for n in SUPPORTED if n not in FITS]
# soft-float routines of libgcc: none may be linked into an int8-in, int8-out model
SOFT_FLOAT = ("__addsf3", "__subsf3", "__mulsf3", "__divsf3", "__fixsfsi", "__fixunssfsi",
              "__floatsisf", "__floatunsisf", "__cmpsf2", "__gtsf2", "__ltsf2")


def test_the_uno_models_fit_and_the_big_ones_do_not():
    assert {"uno_mlp", "uno_conv1d", "uno_conv2d", "dense_flatten", "depthwise"} <= set(FITS)
    assert {"ds_cnn_kws", "conv_variants", "residual"} <= set(TOO_BIG)


@pytest.mark.parametrize("name", FITS)
def test_zoo_model_is_bit_exact_on_the_uno(name, tmp_path):
    data = ZOO[name]()
    graph = load_tflite(data)
    x = make_inputs(graph, 3, seed=1)
    v = validate(data, "uno", inputs=x, workdir=tmp_path / "fw", progress=False)
    assert v.mismatches == 0 and v.max_abs_diff == 0.0, v.summary()
    assert v.cycles_kind == "simulated-cycles" and min(v.cycles) > 0
    assert v.milliseconds_median == pytest.approx(np.median(v.cycles) / 16_000)
    assert v.ram_bytes <= UNO.ram_bytes and v.flash_bytes <= UNO.flash_bytes
    assert 0 < v.runtime_ram_bytes <= runtime_ram(graph, UNO)  # the estimate before building holds
    for xi, got in zip(x, v.outputs):
        want = run_graph(graph, [xi[None]])[0]
        np.testing.assert_array_equal(got.reshape(want.shape), want)


@pytest.mark.parametrize("name", ["ds_cnn_kws", "residual"])
def test_too_big_for_the_uno_is_refused_before_building_with_the_numbers(name, tmp_path):
    with pytest.raises(BudgetError) as e:
        validate(ZOO[name](), "uno", samples=1, workdir=tmp_path / "fw", progress=False)
    msg = str(e.value)
    assert "does not fit board 'uno'" in msg and "uno has 2,048" in msg and "+ stack 448" in msg
    assert "arena " in msg and f"runtime ~{runtime_ram(load_tflite(ZOO[name]()), UNO):,}" in msg
    if name == "ds_cnn_kws":
        assert "flash: needs" in msg and "uno has 32,256" in msg and "weights 24,368" in msg
    assert not (tmp_path / "fw" / "Makefile").exists()  # refused before any C was written


def test_cycles_are_exact_and_repeat_at_every_timer_phase(tmp_path):
    """uno_conv1d runs ~1.8 M cycles: ~27 Timer1 overflows inside each invoke. PINGs of other
    lengths before each invoke move where the overflows fall; the count must not move."""
    data = ZOO["uno_conv1d"]()
    x = make_inputs(load_tflite(data), 1, seed=3)[0][None]
    counts = []
    for session in range(2):
        with open_target(data, "uno", workdir=tmp_path / f"s{session}") as t:
            for n in (0, 9, 64, 31):
                t.link.ping(bytes(n))
                counts.append(t.run([x])[1])
            layers = [row["cycles"] for row in t.profile()]
            assert sum(layers) <= counts[-1] and len(layers) == t.hello.num_layers
            t.link.exit(0)
            assert t.session.wait() == 0 and t.session.stack_used <= UNO.stack_bytes
    assert len(set(counts)) == 1 and counts[0] > 20 * 65536, counts


def test_int8_path_links_no_soft_float(tmp_path):
    p = generate(ZOO["uno_conv2d"](), "uno", tmp_path / "fw")
    from mcuforge.build import build

    elf = build(p.path).elf
    symbols = subprocess.run(["avr-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    linked = {line.split()[-1] for line in symbols.splitlines()}
    assert "mf_softmax" in linked and "mf_conv2d_s8" in linked  # requantization and softmax are in
    assert not linked & set(SOFT_FLOAT), sorted(linked & set(SOFT_FLOAT))


def _uno_firmwares(rng):
    """The kernel cases of test_kernels_target, packed into as few firmwares as fit the Uno."""
    groups, current = [], []
    for case in sorted(CASES):
        g = CASES[case](rng)
        trial = merge(current + [g], "k")
        b = estimate(trial, plan_arena(trial), UNO)
        if current and (b.ram_needed > b.ram_available or b.flash_needed > b.flash_available):
            groups.append(current)
            current = []
        current.append(g)
    return groups + [current]


def test_c_kernels_equal_numpy_references_on_the_uno(tmp_path):
    rng = np.random.default_rng(8)
    kinds = set()
    for i, cases in enumerate(_uno_firmwares(rng)):
        graph = merge(cases, f"k{i}")
        kinds |= {op.kind for op in graph.ops}
        with open_target(graph, "uno", workdir=tmp_path / f"k{i}") as target:
            xs = [random_input(rng, graph, n) for n in graph.inputs]
            got, _ = target.run(xs)
            for k, (g, w) in enumerate(zip(got, run_graph(graph, xs))):
                np.testing.assert_array_equal(g.reshape(w.shape), w, err_msg=f"firmware {i} case {k}")
    assert {"conv2d", "depthwise_conv2d", "fully_connected", "softmax", "add", "mean"} <= kinds
