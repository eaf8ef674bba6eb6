"""Flash backends: the QEMU session (real QEMU) and the real-board tools' command lines."""
from __future__ import annotations

import dataclasses
import os
import stat

import pytest

from conftest import EMULATED_BOARDS, STAND_IN_BOARDS
from mcuforge.boards import Emulator, load_board
from mcuforge.errors import UsageError
from mcuforge.flash import FlashError, check_method, get_backend, open_session, qemu_argv

N2 = "netduinoplus2"


def test_qemu_argv_follows_the_lossless_recipe(tmp_path):
    b = load_board(N2)
    argv = qemu_argv(tmp_path / "fw.elf", b)
    s = " ".join(argv)
    assert argv[0] == "qemu-system-arm" and "-M netduinoplus2" in s
    assert "-S" in argv and "-monitor stdio" in s
    assert "-serial tcp:127.0.0.1:0,server=on,wait=on,nodelay=on" in s
    assert "-semihosting-config enable=on,target=native" in s
    assert "-icount shift=7" in s and argv[-2:] == ["-kernel", str(tmp_path / "fw.elf")]
    assert "-icount shift=3" in " ".join(qemu_argv(tmp_path / "fw.elf", b, icount_shift=3))


@pytest.mark.qemu
@pytest.mark.parametrize("board", EMULATED_BOARDS + list(STAND_IN_BOARDS))
def test_qemu_session_from_project_dir_and_clean_close(board, fake_firmware):
    project = fake_firmware(board).project_dir
    s = open_session(project, board)
    assert s.url.startswith("socket://127.0.0.1:") and s.icount_shift == 7
    link = s.link()
    assert link.ping(b"x") == b"x"
    proc = s.proc
    s.close()
    assert proc.returncode is not None  # killed and reaped: no zombie
    with pytest.raises(OSError):
        os.kill(proc.pid, 0)


@pytest.mark.qemu
def test_qemu_log_kept_where_asked(fake_firmware, tmp_path):
    log = tmp_path / "qemu.log"
    with open_session(fake_firmware(N2).elf, N2, log_path=log) as s:
        s.link().exit(3)
        assert s.wait(10) == 3
    assert "QEMU waiting for connection" in log.read_text()


@pytest.mark.qemu
def test_qemu_failure_reports_its_log(fake_firmware):
    bad = dataclasses.replace(load_board(N2), emulator=Emulator(kind="qemu", machine="no-such-machine"))
    with pytest.raises(FlashError) as e:
        get_backend("qemu").flash(fake_firmware(N2).elf, bad)
    assert "QEMU exited" in str(e.value) and "no-such-machine" in str(e.value)


def test_bad_targets(tmp_path):
    with pytest.raises(FlashError, match="no build/firmware.elf"):
        open_session(tmp_path, N2)
    junk = tmp_path / "fw.elf"
    junk.write_bytes(b"not an elf")
    with pytest.raises(FlashError, match="not an ELF"):
        open_session(junk, N2)
    with pytest.raises(FlashError, match="not found"):
        open_session(tmp_path / "missing.elf", N2)


def test_method_checks(fake_firmware):
    elf = fake_firmware("mps2-an386").elf
    # Bad usage (exit 2), found by check_method before anything is built.
    with pytest.raises(UsageError, match="does not support flash method 'openocd'.*qemu"):
        open_session(elf, "mps2-an386", method="openocd")
    with pytest.raises(UsageError, match="unknown flash method 'jlink'"):
        get_backend("jlink")
    with pytest.raises(UsageError, match="--port /dev/ttyACM0 is the serial port of a real board.*--method"):
        check_method("netduinoplus2", "qemu", "/dev/ttyACM0")
    assert check_method("netduinoplus2", None, "/dev/ttyACM0") is None  # attach: nothing to flash
    assert check_method("netduinoplus2", "openocd", "/dev/ttyACM0") == "openocd"
    assert check_method("netduinoplus2") == "qemu"


def test_missing_qemu_is_a_clear_error(fake_firmware, monkeypatch, tmp_path):
    elf = fake_firmware(N2).elf
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FlashError, match="qemu-system-arm not found"):
        open_session(elf, N2)


@pytest.mark.parametrize("method, expected", [
    ("openocd", ["openocd", "-f", "interface/stlink.cfg", "-f", "target/stm32f4x.cfg",
                 "-c", "program {elf} verify reset exit"]),
    ("st-flash", ["st-flash", "--reset", "write", "{bin}", "0x08000000"]),
    ("pyocd", ["pyocd", "flash", "--no-wait", "--target", "stm32f405rgtx", "{elf}"]),
    ("stm32flash", ["stm32flash", "-b", "115200", "-w", "{bin}", "-v", "-g", "0x08000000",
                    "/dev/ttyUSB7"]),
    ("dfu-util", ["dfu-util", "-a", "0", "-d", "0483:df11", "-s", "0x08000000:leave", "-D", "{bin}"]),
])
def test_real_board_command_lines(method, expected, fake_firmware):
    elf = fake_firmware(N2).elf
    argv = open_session(elf, N2, method=method, port="/dev/ttyUSB7", dry_run=True)
    subst = {"{elf}": str(elf), "{bin}": str(elf.with_suffix(".bin"))}
    assert argv == [a.replace("{elf}", subst["{elf}"]).replace("{bin}", subst["{bin}"]) for a in expected]


def test_serial_port_required_and_env(fake_firmware, monkeypatch):
    elf = fake_firmware(N2).elf
    monkeypatch.delenv("MCUFORGE_PORT", raising=False)
    with pytest.raises(FlashError, match="serial port"):
        open_session(elf, N2, method="stm32flash", dry_run=True)
    monkeypatch.setenv("MCUFORGE_PORT", "COM4")
    assert open_session(elf, N2, method="stm32flash", dry_run=True)[-1] == "COM4"


@pytest.mark.parametrize("method, hint", [("openocd", "apt-get install openocd"),
                                          ("st-flash", "stlink-tools"), ("pyocd", "pip install pyocd"),
                                          ("stm32flash", "apt-get install stm32flash"),
                                          ("dfu-util", "apt-get install dfu-util")])
def test_missing_tool_is_a_clear_error(method, hint, fake_firmware, monkeypatch, tmp_path):
    elf = fake_firmware(N2).elf
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FlashError) as e:
        open_session(elf, N2, method=method, port="/dev/ttyUSB0")
    assert f"{method} not found" in str(e.value) and hint in str(e.value)


def _fake_tool(dir_, name, body):
    path = dir_ / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_tool_runs_exact_argv_and_reports_failure(fake_firmware, tmp_path, monkeypatch):
    """A stand-in st-flash on PATH records its argv: the backend runs exactly the command
    line it reports, after making the .bin it names."""
    elf_src = fake_firmware(N2).elf
    elf = tmp_path / "fw" / "firmware.elf"
    elf.parent.mkdir()
    elf.write_bytes(elf_src.read_bytes())
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "argv.txt"
    _fake_tool(bindir, "st-flash", f'printf "%s\\n" "$@" > {record}\n')
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    session = open_session(elf, N2, method="st-flash", port="/dev/ttyACM0")
    assert record.read_text().split() == ["--reset", "write", str(elf.with_suffix(".bin")), "0x08000000"]
    assert elf.with_suffix(".bin").stat().st_size > 1000  # objcopy made the raw image
    assert session.url == "/dev/ttyACM0"
    _fake_tool(bindir, "st-flash", 'echo "Failed to connect to target" >&2; exit 2\n')
    with pytest.raises(FlashError, match=r"(?s)st-flash failed \(exit 2\).*Failed to connect"):
        open_session(elf, N2, method="st-flash")
    _fake_tool(bindir, "st-flash", "exit 0\n")
    with pytest.raises(FlashError, match="no serial port"):
        _ = open_session(elf, N2, method="st-flash").url
