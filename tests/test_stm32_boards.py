"""The STM32 boards people buy besides the netduinoplus2: NUCLEO-F401RE, NUCLEO-F446RE (F4, the
shared stm32f4-rcc + stm32-usart drivers), NUCLEO-L476RG and STM32F746G-DISCO (the F7/L4 USART,
stm32-usart-v2), Blue Pill STM32F103C8 (the F1's USART is the F4's). Where QEMU has the same core
and link USART the board's own firmware runs there: the Nucleo-64 F4s on the netduinoplus2's
STM32F405 (USART2 at the same address), the Blue Pill's board code on the stm32vldiscovery's
STM32F100 with its RAM cut to that part's 8 KB. The L476 and F746 have no such machine in QEMU 7.2:
they build with the real compiler (tests/test_boards_build.py) and their tools run without a probe
(tests/test_flash_tools.py). No QEMU here models an STM32 RCC, so no clock set-up runs anywhere."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mcuforge.boards import Emulator, load_board
from mcuforge.flash import open_session
from mcuforge.model.tflite import load_tflite
from mcuforge.plan.budget import BudgetError
from mcuforge.reference.executor import run_graph
from mcuforge.validation import make_inputs, validate
from models.zoo import ZOO

# board: mcu, core, clock, flash, RAM, link UART kind, base, IRQ, drivers, PlatformIO board id
FACTS = {
    "nucleo-f401re": ("STM32F401RE", "cortex-m4", 84_000_000, 512 << 10, 96 << 10, "stm32-usart", 0x40004400, 38,
                      ("stm32f4-rcc", "stm32-usart"), "nucleo_f401re"),
    "nucleo-f446re": ("STM32F446RE", "cortex-m4", 180_000_000, 512 << 10, 128 << 10, "stm32-usart", 0x40004400, 38,
                      ("stm32f4-rcc", "stm32-usart"), "nucleo_f446re"),
    "nucleo-l476rg": ("STM32L476RG", "cortex-m4", 80_000_000, 1 << 20, 96 << 10, "stm32-usart-v2", 0x40004400, 38,
                      ("stm32-usart-v2",), "nucleo_l476rg"),
    "stm32f746g-disco": ("STM32F746NG", "cortex-m7", 216_000_000, 1 << 20, 320 << 10, "stm32-usart-v2", 0x40011000,
                         37, ("stm32f4-rcc", "stm32-usart-v2"), "disco_f746ng"),
    "bluepill": ("STM32F103C8", "cortex-m3", 72_000_000, 64 << 10, 20 << 10, "stm32-usart", 0x40013800, 37,
                 ("stm32-usart",), "bluepill_f103c8"),
}
# openocd's configuration per board (Debian's openocd 0.12 scripts) and the pyOCD target names:
# those are CMSIS-pack names (pyocd pack install NAME needs the network), unverified here.
OPENOCD = {"nucleo-f401re": ["-f", "board/st_nucleo_f4.cfg"], "nucleo-f446re": ["-f", "board/st_nucleo_f4.cfg"],
           "nucleo-l476rg": ["-f", "board/st_nucleo_l4.cfg"],
           "stm32f746g-disco": ["-f", "board/stm32f746g-disco.cfg"],
           "bluepill": ["-f", "interface/stlink.cfg", "-f", "board/stm32f103c8_blue_pill.cfg"]}
PYOCD = {"nucleo-f401re": "stm32f401retx", "nucleo-f446re": "stm32f446retx", "nucleo-l476rg": "stm32l476rgtx",
         "stm32f746g-disco": "stm32f746nghx", "bluepill": "stm32f103c8"}


@pytest.mark.parametrize("name", FACTS)
def test_board_facts(name):
    b = load_board(name)
    mcu, core, clock, flash, ram, kind, base, irq, drivers, pio = FACTS[name]
    assert (b.mcu, b.core, b.clock_hz, b.flash_bytes, b.ram_bytes) == (mcu, core, clock, flash, ram)
    assert (b.uart["kind"], int(b.uart["base"], 16), b.uart["irq"], b.drivers) == (kind, base, irq, drivers)
    assert b.platformio == {"platform": "ststm32", "board": pio} and b.cycle_counter == "dwt"
    assert int(b.memory["flash"]["origin"], 16) == 0x08000000 and int(b.memory["ram"]["origin"], 16) == 0x20000000
    fpu = {"cortex-m3": "-mfloat-abi=soft", "cortex-m4": "-mfpu=fpv4-sp-d16", "cortex-m7": "-mfpu=fpv5-sp-d16"}
    assert fpu[core] in b.cflags and b.fpu == (core != "cortex-m3")  # the F746's FPU is single precision


@pytest.mark.parametrize("name", FACTS)
def test_flash_commands_of_each_tool(name, fake_firmware):
    elf = fake_firmware(name).elf
    b = load_board(name)
    run = {m: open_session(elf, name, method=m, port="/dev/ttyUSB0", dry_run=True)
           for m in b.flash_methods if m not in ("qemu", "platformio")}
    assert run.pop("openocd") == ["openocd", *OPENOCD[name], "-c", f"program {elf} verify reset exit"]
    assert run.pop("st-flash") == ["st-flash", "--reset", "write", str(elf.with_suffix(".bin")), "0x08000000"]
    assert run.pop("pyocd") == ["pyocd", "flash", "--no-wait", "--target", PYOCD[name], str(elf)]
    if name == "bluepill":  # the F103's ROM bootloader on USART1, the link's pins (BOOT0 high)
        assert run.pop("stm32flash") == ["stm32flash", "-b", "115200", "-w", str(elf.with_suffix(".bin")), "-v",
                                         "-g", "0x08000000", "/dev/ttyUSB0"]
    assert run == {}


@pytest.mark.qemu
def test_nucleo_f446re_firmware_on_qemus_f405_is_bit_exact_with_its_counts(tmp_path):
    """The F446's own firmware (board code, USART2, 180 MHz build) on the netduinoplus2 machine:
    bit-exact with TFLM, and the same emulated instructions as the netduinoplus2's firmware
    (same core, same kernels): its SysTick counts convert at QEMU's 168 MHz, not the part's 180."""
    data = ZOO["dense_flatten"]()
    graph = load_tflite(data)
    x = make_inputs(graph, 2, seed=1)
    runs = {b: validate(data, b, inputs=x, workdir=tmp_path / b, progress=False)
            for b in ("nucleo-f446re", "netduinoplus2")}
    v = runs["nucleo-f446re"]
    assert v.mismatches == 0 and v.max_abs_diff == 0.0 and v.cycles_kind == "emulated-instructions", v.summary()
    assert v.clock_hz == 168_000_000 and v.cycles == runs["netduinoplus2"].cycles and min(v.cycles) > 0
    for xi, got in zip(x, v.outputs):
        np.testing.assert_array_equal(got.reshape(-1), run_graph(graph, [xi[None]])[0].reshape(-1))


def _bluepill_on_f100():
    """The Blue Pill's board on QEMU's STM32F100 (the same Cortex-M3, USART1 at 0x40013800, RCC
    and GPIO at the F1's addresses), with its RAM cut to the F100's 8 KB (and a link buffer to fit)."""
    return dataclasses.replace(load_board("bluepill"), ram_bytes=8192, stack_bytes=2048, link_max_payload=256,
                               flash_methods=("qemu",),
                               emulator=Emulator(kind="qemu", machine="stm32vldiscovery", clock_hz=24_000_000))


@pytest.mark.qemu
def test_bluepill_code_on_qemus_f100_is_bit_exact(tmp_path):
    data = ZOO["uno_conv2d"]()
    graph = load_tflite(data)
    x = make_inputs(graph, 2, seed=1)
    v = validate(data, _bluepill_on_f100(), inputs=x, workdir=tmp_path / "fw", progress=False)
    assert v.mismatches == 0 and v.max_abs_diff == 0.0 and min(v.cycles) > 0, v.summary()
    assert v.clock_hz == 24_000_000  # QEMU's F100 clock: the board code saw no RCC and did not start the PLL
    bp = load_board("bluepill")
    assert v.flash_bytes <= bp.flash_bytes and v.ram_bytes <= 8192 < bp.ram_bytes


def test_the_ds_cnn_is_refused_for_the_bluepill_before_building(tmp_path):
    """The zoo's DS-CNN needs a 64 KB arena with the Cortex-M3's portable kernels: the Blue Pill's
    20 KB is refused before any C is written, with the numbers (its own runtime figure: a 512-byte
    link payload). The boards build the fake model within their part: tests/test_boards_build.py."""
    from mcuforge.project import generate

    with pytest.raises(BudgetError, match=r"(?s)does not fit board 'bluepill'.*runtime ~2,4\d\d\), bluepill has 20,480"):
        generate(ZOO["ds_cnn_kws"](), "bluepill", tmp_path / "bp")
    assert not (tmp_path / "bp" / "Makefile").exists()
