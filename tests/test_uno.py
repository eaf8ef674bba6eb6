"""The Arduino Uno (ATmega328P) on simavr: the board, the simavr runner and its serial port,
the link in 64-byte frames, exact simulated cycle counts. The fake model's firmware (300-byte
input on the AVR) runs on the simulated part; sessions take ~0.1 s once built."""
from __future__ import annotations

import os
import shutil
import struct

import numpy as np
import pytest

from mcuforge.boards import load_board
from mcuforge.flash import open_session
from mcuforge.flash import simavr as simavr_backend
from mcuforge.link import DeviceFault, LinkError
from mcuforge.link import protocol as P

pytestmark = pytest.mark.simavr

UNO = "uno"
IN0 = 300  # FAKE_IN0_BYTES on the AVR


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, IN0, dtype=np.int8), rng.integers(-3000, 3000, 10, dtype=np.int16)]


@pytest.fixture
def session(fake_firmware):
    with open_session(fake_firmware(UNO).elf, UNO) as s:
        yield s


def test_uno_board_facts():
    b = load_board(UNO)
    assert (b.arch, b.mcu, b.clock_hz, b.ram_bytes, b.flash_bytes) == ("avr", "ATmega328P", 16_000_000, 2048, 32256)
    assert not b.fpu and b.toolchain_prefix == "avr-" and b.link_max_payload == 64
    assert b.emulator.kind == "simavr" and b.emulator.machine == "atmega328p" and b.exit == "halt"
    assert b.flash_methods == ("simavr", "avrdude", "platformio") and b.defines == {"MF_LINK_MAX_HANDLERS": 11}


def test_runner_is_built_once_keyed_by_its_source(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    exe = simavr_backend.runner_path()
    assert exe.parent == tmp_path / "mcuforge" and exe.is_file()
    mtime = exe.stat().st_mtime_ns
    assert simavr_backend.runner_path() == exe and exe.stat().st_mtime_ns == mtime  # cached
    src = tmp_path / "runner.c"
    src.write_text(simavr_backend.RUNNER_SOURCE.read_text() + "\n/* edited */\n")
    monkeypatch.setattr(simavr_backend, "RUNNER_SOURCE", src)
    assert simavr_backend.runner_path() != exe  # another source, another binary


def test_hello_over_the_pty(session):
    assert session.url.startswith("/dev/pts/")
    link = session.link()
    h = link.hello()
    assert (h.board, h.model_name, h.max_payload, h.clock_hz) == (UNO, "fake_model", 64, 16_000_000)
    assert h.cycle_counter == "avr-timer1" and h.semihosting and h.profiling
    assert [(i.dtype, i.bytes) for i in h.inputs] == [(np.dtype(np.int8), IN0), (np.dtype("<i2"), 20)]
    assert set(h.message_types) == {1, 2, 3, 4, 5, 6, 7}
    assert link.cycle_scale.unit == "simulated-cycles" and link.cycle_scale.emulated
    assert link.cycle_scale.milliseconds(16_000) == 1.0


def test_frames_up_to_the_max_payload_and_no_further(session):
    link = session.link()
    for n in (0, 1, 63, 64):
        assert link.ping(bytes(range(n))) == bytes(range(n))
    with pytest.raises(LinkError, match="max payload 64"):
        link.ping(bytes(65))
    link.send_raw(P.encode_frame(P.Msg.PING, 9, bytes(65)))  # the device refuses it too
    err = P.parse_error(link.read_frame(3.0).payload)
    assert err.code == P.ErrorCode.TOO_LONG
    link.request(P.Msg.PING, b"ok", timeout=3.0)  # and serves the next frame after the idle time


def test_tensors_cross_in_chunks_and_the_run_is_exact(session):
    link = session.link()
    x0, x1 = _inputs()
    outs, cycles = link.run([x0, x1])
    assert np.array_equal(outs[0], (x0.astype(np.int16) + 1).astype(np.int8))
    assert outs[1][0] == int(x0.astype(np.int64).sum() + x1.astype(np.int64).sum())
    requests = link.stats.requests
    link.write_input(0, x0)
    assert link.stats.requests - requests == -(-IN0 // (64 - P.WRITE_INPUT_OVERHEAD))  # 6 frames
    # The same invoke at other Timer1 phases (PINGs of other lengths in between) costs the same.
    counts = {cycles}
    for n in (0, 7, 33, 64, 5):
        link.ping(bytes(n))
        counts.add(link.run([x0, x1])[1])
    assert counts == {cycles} and cycles > 0
    layers = link.profile()
    assert [op for op, _ in layers] == ["ADD", "SUM"] and all(c > 0 for _, c in layers)


def test_counts_repeat_across_sessions(fake_firmware):
    x = _inputs(1)
    counts = []
    for _ in range(2):
        with open_session(fake_firmware(UNO).elf, UNO) as s:
            link = s.link()
            counts.append((link.run(x)[1], tuple(c for _, c in link.profile())))
    assert counts[0] == counts[1]


def test_exit_code_and_stack_use(session, fake_firmware):
    link = session.link()
    link.run(_inputs())
    link.exit(42)
    assert session.wait() == 42
    assert session.halted == "halted 42"
    assert 0 < session.stack_used <= load_board(UNO).stack_bytes


def test_interrupt_without_handler_is_reported_as_fault(session):
    link = session.link()
    x0, x1 = _inputs()
    x0[:2] = 0x7E  # the fake model's fault hook: INT0 fires with no handler
    with pytest.raises(DeviceFault, match="unexpected interrupt"):
        link.run([x0, x1])
    assert session.wait() == 127


def test_bad_payload_lengths_answered_with_errors(session):
    link = session.link()
    with pytest.raises(LinkError, match="BAD_LENGTH|READ_OUTPUT needs"):
        link.request(P.Msg.READ_OUTPUT, struct.pack("<BI", 0, 0))
    with pytest.raises(LinkError, match="length over max payload"):
        link.request(P.Msg.READ_OUTPUT, P.read_output_payload(0, 0, 65))


def test_avrdude_command_is_the_arduino_upload(fake_firmware):
    from mcuforge.flash import get_backend

    elf = fake_firmware(UNO).elf
    argv = get_backend("avrdude", load_board(UNO)).flash(elf, load_board(UNO), port="/dev/ttyACM0", dry_run=True)
    assert argv == ["avrdude", "-c", "arduino", "-p", "m328p", "-P", "/dev/ttyACM0", "-b", "115200",
                    "-U", f"flash:w:{elf.with_suffix('.hex')}:i"]


def test_debian_prebuilt_optiboot_does_not_fit_the_boot_section():
    """Why the upload test builds Optiboot from Debian's source: the prebuilt hex (avr-gcc 5.4)
    is 532 bytes, running past the 32 KB flash, where the boot section is 512."""
    lo, hi = simavr_backend.hex_span(simavr_backend.DEBIAN_OPTIBOOT_HEX)
    assert lo == 0x7E00 and hi > 0x8000
    lo, hi = simavr_backend.hex_span(simavr_backend.optiboot_hex())
    assert lo == 0x7E00 and hi <= 0x8000


def test_optiboot_waits_for_a_slow_starting_avrdude(fake_firmware, tmp_path, monkeypatch):
    """Optiboot's 1 s upload window opens with avrdude's first byte, as the Uno's DTR auto-reset
    opens it on the board: an avrdude that starts 2 s after the part still uploads. (Started
    at once, simavr ran the window out before avrdude sent anything when avrdude was slow to
    start: "unable to open programmer".)"""
    slow = tmp_path / "avrdude"
    slow.write_text(f"#!/bin/sh\nsleep 2\nexec {shutil.which('avrdude')} \"$@\"\n")
    slow.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with open_session(fake_firmware(UNO).elf, UNO, via_bootloader=True) as s:
        assert s.uploaded and s.argv[1] == "--auto-reset"
        assert s.link().hello().model_name == "fake_model"


def test_upload_through_avrdude_and_optiboot_then_validate(tmp_path):
    """The real Uno path on the simulated part: Optiboot, the board's avrdude command over the
    pty, the watchdog reset into the uploaded firmware, then validate over the same port."""
    from mcuforge.validation import validate
    from models.zoo import ZOO

    v = validate(ZOO["uno_mlp"](), UNO, samples=2, workdir=tmp_path / "fw", progress=False,
                 flash_options={"via_bootloader": True})
    assert v.mismatches == 0 and v.samples == 2 and v.cycles_kind == "simulated-cycles"


def test_fit_check_knows_every_kernels_code_size_on_the_avr_boards(tmp_path):
    """The AVR boards' fit check adds each kernel's code (kernel_flash_bytes, the one table in
    firmware/runtime/arch/avr/runtime_sizes.json): every kernel has an entry, at least its object
    size under avr-gcc -Os, for each AVR part (ATmega328P of the Uno and Nano, ATmega2560)."""
    import subprocess

    from mcuforge import resources
    from mcuforge.boards import list_boards

    kernels = resources.firmware_dir() / "kernels"
    table = load_board(UNO).kernel_flash_bytes
    parts = {b.cflags for b in list_boards() if b.arch == "avr"}
    assert all(b.kernel_flash_bytes == table for b in list_boards() if b.arch == "avr") and len(parts) == 2
    for cflags in sorted(parts):
        for src in sorted(kernels.glob("*.c")):
            obj = tmp_path / f"{src.stem}.o"
            subprocess.run(["avr-gcc", *cflags, "-std=c99", "-Os", "-ffunction-sections",
                            "-fdata-sections", f"-I{kernels}", "-c", str(src), "-o", str(obj)], check=True)
            text = int(subprocess.run(["avr-size", str(obj)], capture_output=True, text=True,
                                      check=True).stdout.split("\n")[1].split()[0])
            if text == 0:  # a kernel for another core (the *_dsp variants need the Arm DSP extension)
                continue
            assert src.stem in table and table[src.stem] >= text, (cflags, src.stem, text, table.get(src.stem))
