"""The Arduino boards besides the Uno (tests/test_uno.py). The Nano (ATmega328P, the new Nano's
Optiboot at 115200) is the Uno's part with its own board ids: it shares the AVR code
(firmware/runtime/arch/avr, the avr-usart0 driver) and code-size table, so its firmware runs on
simavr like the Uno's: bit-exact, the same cycles. The Mega 2560 (ATmega2560, avr6, stk500v2
bootloader: avrdude -c wiring) builds from the same code and runs on simavr's ATmega2560 with
a 496-byte link payload (its RAM allows more; simavr's uart_pty moves at most 511 bytes at once):
a model too big for the Uno validates there bit-exact."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mcuforge.boards import load_board
from mcuforge.flash import get_backend

pytestmark = pytest.mark.simavr

NANO, UNO, MEGA = "nano", "uno", "mega2560"


def test_nano_is_the_unos_part_with_its_own_board_ids():
    nano, uno = load_board(NANO), load_board(UNO)
    same = ("mcu", "arch", "core", "cflags", "clock_hz", "flash_bytes", "ram_bytes", "stack_bytes",
            "drivers", "runtime_flash_bytes", "runtime_ram_bytes", "kernel_flash_bytes")
    assert {k: getattr(nano, k) for k in same} == {k: getattr(uno, k) for k in same}
    assert {**nano.uart, "pins": ""} == {**uno.uart, "pins": ""}  # the same USART0, another USB bridge
    assert nano.drivers == ("avr-usart0",) and len(nano.kernel_flash_bytes) > 20  # the shared table
    assert nano.platformio == {"platform": "atmelavr", "board": "nanoatmega328new"}
    assert nano.arduino_fqbn == "arduino:avr:nano" and nano.emulator.machine == "atmega328p"
    assert nano.flash_methods == ("simavr", "avrdude", "platformio")


def test_nano_avrdude_command_and_both_listed(fake_firmware):
    elf = fake_firmware(NANO).elf
    argv = get_backend("avrdude", load_board(NANO)).flash(elf, load_board(NANO), port="/dev/ttyUSB0", dry_run=True)
    assert argv == ["avrdude", "-c", "arduino", "-p", "m328p", "-P", "/dev/ttyUSB0", "-b", "115200",
                    "-U", f"flash:w:{elf.with_suffix('.hex')}:i"]
    out = subprocess.run([sys.executable, "-m", "mcuforge", "boards"], capture_output=True, text=True,
                         check=True).stdout
    rows = {line.split()[0]: line.rstrip() for line in out.splitlines() if line.strip()}
    for name, mcu in ((NANO, "ATmega328P"), (MEGA, "ATmega2560")):
        assert mcu in rows[name] and rows[name].endswith("simavr, avrdude, platformio"), rows[name]


def test_a_nano_model_is_bit_exact_on_simavr_with_the_unos_cycles(tmp_path):
    from mcuforge.validation import validate
    from models.zoo import ZOO

    data = ZOO["uno_mlp"]()
    runs = {b: validate(data, b, samples=2, workdir=tmp_path / b, progress=False) for b in (NANO, UNO)}
    for v in runs.values():
        assert v.mismatches == 0 and v.max_abs_diff == 0.0 and v.cycles_kind == "simulated-cycles"
    assert runs[NANO].cycles == runs[UNO].cycles and min(runs[NANO].cycles) > 0


def test_mega2560_builds_lists_and_runs_the_link_on_simavr(fake_firmware):
    from mcuforge.flash import open_session

    mega = load_board(MEGA)
    assert (mega.mcu, mega.core, mega.flash_bytes, mega.ram_bytes) == ("ATmega2560", "avr6", 253952, 8192)
    assert mega.platformio == {"platform": "atmelavr", "board": "megaatmega2560"}
    assert mega.kernel_flash_bytes == load_board(UNO).kernel_flash_bytes  # the one AVR table
    r = fake_firmware(MEGA)
    assert 0 < r.flash_bytes <= mega.flash_bytes and r.stack == mega.stack_bytes and r.ram_bytes <= mega.ram_bytes
    argv = get_backend("avrdude", mega).flash(r.elf, mega, port="/dev/ttyACM0", dry_run=True)
    assert argv == ["avrdude", "-c", "wiring", "-p", "m2560", "-P", "/dev/ttyACM0", "-b", "115200", "-D",
                    "-U", f"flash:w:{r.elf.with_suffix('.hex')}:i"]
    rng = np.random.default_rng(0)
    x0, x1 = rng.integers(-128, 128, 300, dtype=np.int8), rng.integers(-3000, 3000, 10, dtype=np.int16)
    with open_session(r.elf, MEGA) as s:
        link = s.link()
        h = link.hello()
        assert (h.board, h.clock_hz, h.max_payload, h.cycle_counter) == (MEGA, 16_000_000, 496, "avr-timer1")
        assert link.ping(bytes(range(248)) * 2) == bytes(range(248)) * 2  # a whole 496-byte payload
        outs, cycles = link.run([x0, x1])
        assert np.array_equal(outs[0], (x0.astype(np.int16) + 1).astype(np.int8)) and cycles > 0
        assert outs[1][0] == int(x0.astype(np.int64).sum() + x1.astype(np.int64).sum())


def test_a_model_too_big_for_the_uno_is_bit_exact_on_the_mega(tmp_path):
    """conv_variants needs ~3.6 KB of RAM (the Uno refuses it: tests/test_uno_models.py): on the
    Mega's 8 KB, with its 496-byte link payload, bit-exact with TFLM in exact simulated cycles."""
    from mcuforge.model.tflite import load_tflite
    from mcuforge.plan.budget import runtime_ram
    from mcuforge.reference.executor import run_graph
    from mcuforge.validation import make_inputs, validate
    from models.zoo import ZOO

    data = ZOO["conv_variants"]()
    graph = load_tflite(data)
    x = make_inputs(graph, 2, seed=1)
    v = validate(data, MEGA, inputs=x, workdir=tmp_path / "fw", progress=False)
    assert v.mismatches == 0 and v.max_abs_diff == 0.0 and v.cycles_kind == "simulated-cycles", v.summary()
    mega = load_board(MEGA)
    assert load_board(UNO).ram_bytes < v.ram_bytes <= mega.ram_bytes and v.flash_bytes <= mega.flash_bytes
    assert 0 < v.runtime_ram_bytes <= runtime_ram(graph, mega) and min(v.cycles) > 0
    for xi, got in zip(x, v.outputs):
        np.testing.assert_array_equal(got.reshape(-1), run_graph(graph, [xi[None]])[0].reshape(-1))
