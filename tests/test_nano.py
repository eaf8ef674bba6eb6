"""The Arduino Nano (ATmega328P, the new Nano's Optiboot at 115200): the Uno's part with its own
board ids. It shares the Uno's AVR code (firmware/runtime/arch/avr, the avr-usart0 driver) and
code-size table, so its firmware runs on simavr like the Uno's: bit-exact, the same cycles."""
from __future__ import annotations

import subprocess
import sys

import pytest

from mcuforge.boards import load_board
from mcuforge.flash import get_backend

pytestmark = pytest.mark.simavr

NANO, UNO = "nano", "uno"


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


def test_nano_avrdude_command_and_listing(fake_firmware):
    elf = fake_firmware(NANO).elf
    argv = get_backend("avrdude", load_board(NANO)).flash(elf, load_board(NANO), port="/dev/ttyUSB0", dry_run=True)
    assert argv == ["avrdude", "-c", "arduino", "-p", "m328p", "-P", "/dev/ttyUSB0", "-b", "115200",
                    "-U", f"flash:w:{elf.with_suffix('.hex')}:i"]
    out = subprocess.run([sys.executable, "-m", "mcuforge", "boards"], capture_output=True, text=True,
                         check=True).stdout
    row = next(line for line in out.splitlines() if line.startswith("nano "))
    assert "ATmega328P" in row and row.rstrip().endswith("simavr, avrdude, platformio")


def test_a_nano_model_is_bit_exact_on_simavr_with_the_unos_cycles(tmp_path):
    from mcuforge.validation import validate
    from models.zoo import ZOO

    data = ZOO["uno_mlp"]()
    runs = {b: validate(data, b, samples=2, workdir=tmp_path / b, progress=False) for b in (NANO, UNO)}
    for v in runs.values():
        assert v.mismatches == 0 and v.max_abs_diff == 0.0 and v.cycles_kind == "simulated-cycles"
    assert runs[NANO].cycles == runs[UNO].cycles and min(runs[NANO].cycles) > 0
