"""The real flashing tools, run without hardware: each board's command goes to the real binary
(openocd, st-flash, pyocd, stm32flash, avrdude, dfu-util), which resolves its configuration and
then finds no probe or no board: a FlashError (exit 5) in the tool's own words, retried as asked.
A tool is never handed an image for another part. The serial ports are pyserial's list_ports
records built here (no USB board is attached to this machine); ``--port auto`` logic is real."""
from __future__ import annotations

import os
import shutil
import stat
import sys

import pytest
from serial.tools.list_ports_common import ListPortInfo

from mcuforge.boards import load_board
from mcuforge.flash import FlashError, open_session
from mcuforge.flash.image import check_image, flash_origin
from mcuforge.flash.ports import auto_port, list_ports

N2, UNO, NUCLEO = "netduinoplus2", "uno", "nucleo-f401re"

# What each real tool says when the probe or board it needs is not there.
NO_HARDWARE = {
    "openocd": "Error: open failed",  # after its config files (interface + target, or board/) resolved
    "st-flash": "Couldn't find any ST-Link devices",
    "pyocd": "No connected debug probes",
    "dfu-util": "No DFU capable USB device available",
    "stm32flash": "Failed to open port",
    "avrdude": "cannot open port",
}


def _installed(name):
    """The tool's path: pyocd is a test extra (pyproject, in the venv's bin), the rest are in the
    Makefile's APT_PACKAGES."""
    exe = shutil.which(name) or shutil.which(name, path=os.path.dirname(sys.executable))
    assert exe is not None, f"{name} is not installed: make setup installs it"
    return exe


@pytest.mark.parametrize("method, board", [("openocd", N2), ("st-flash", N2), ("pyocd", N2), ("dfu-util", N2),
                                           ("stm32flash", N2), ("avrdude", UNO),
                                           ("openocd", NUCLEO), ("st-flash", NUCLEO), ("openocd", "nucleo-f446re"),
                                           ("openocd", "nucleo-l476rg"), ("openocd", "stm32f746g-disco"),
                                           ("openocd", "bluepill"), ("stm32flash", "bluepill")])
def test_real_tool_without_its_probe_is_a_flash_error_retried(method, board, fake_firmware, tmp_path, monkeypatch):
    exe = _installed(load_board(board).flash_commands[method][0])
    monkeypatch.setenv("PATH", f"{os.path.dirname(exe)}:{os.environ['PATH']}")
    with pytest.raises(FlashError) as e:
        open_session(fake_firmware(board).elf, board, method=method, port=str(tmp_path / "ttyNOBOARD"),
                     retries=1, retry_delay=0, timeout=60)
    text = str(e.value)
    assert f"{method} failed (exit " in text and "(2 attempts): " in text and NO_HARDWARE[method] in text
    assert "Can't find" not in text  # openocd found every config file it was given


def _fake_tool(dir_, name, body):
    path = dir_ / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_a_hanging_tool_is_stopped_at_the_timeout(fake_firmware, tmp_path, monkeypatch):
    """pyocd without --no-wait waits for a probe forever: every run is bounded."""
    _fake_tool(tmp_path, "st-flash", "sleep 30\n")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(FlashError, match=r"st-flash did not finish within 0.5 s: st-flash --reset write"):
        open_session(fake_firmware(N2).elf, N2, method="st-flash", timeout=0.5)
    assert "--no-wait" in load_board(N2).flash_commands["pyocd"]


def test_retries_succeed_once_the_board_answers(fake_firmware, tmp_path, monkeypatch):
    """A probe that shows up on the third run: two failures, then the session."""
    count = tmp_path / "runs"
    _fake_tool(tmp_path, "st-flash", f'echo x >> {count}; [ "$(wc -l < {count})" -ge 3 ] || exit 2\n')
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(FlashError, match=r"st-flash failed \(exit 2\) \(2 attempts\): st-flash --reset"):
        open_session(fake_firmware(N2).elf, N2, method="st-flash", retries=1, retry_delay=0)
    count.unlink()
    session = open_session(fake_firmware(N2).elf, N2, method="st-flash", port="/dev/ttyACM3", retries=2,
                           retry_delay=0)
    assert count.read_text().count("x") == 3 and session.url == "/dev/ttyACM3"


def test_images_are_checked_against_the_part(fake_firmware, tmp_path, monkeypatch):
    for board in (N2, UNO, NUCLEO, "nucleo-l476rg", "stm32f746g-disco", "bluepill"):
        lo, hi = check_image(fake_firmware(board).elf, load_board(board))
        assert lo == flash_origin(load_board(board)) and hi - lo <= load_board(board).flash_bytes
    assert flash_origin(load_board(N2)) == 0x08000000
    # An mps2 image (linked at 0x0) handed to the STM32's tools is refused before any tool runs.
    record = tmp_path / "ran"
    _fake_tool(tmp_path, "st-flash", f"touch {record}\n")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(FlashError, match=r"not an image for board 'netduinoplus2'.*0x08000000"):
        open_session(fake_firmware("mps2-an386").elf, N2, method="st-flash")
    assert not record.exists()
    with pytest.raises(FlashError, match="not an image for board 'uno'"):
        check_image(fake_firmware(N2).elf, load_board(UNO))


def _usb(device, vid=None, pid=None, description="n/a"):
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid, info.description = vid, pid, description
    return info


PORTS = [_usb("/dev/ttyS0"), _usb("/dev/ttyACM0", 0x0483, 0x374B, "STM32 STLink"),
         _usb("/dev/ttyACM1", 0x2341, 0x0043, "Arduino Uno"), _usb("/dev/ttyUSB0", 0x10C4, 0xEA60, "CP2102")]


def test_ports_name_usb_ids_and_known_boards():
    ports = {p.device: p for p in list_ports(PORTS)}
    assert list(ports) == ["/dev/ttyACM0", "/dev/ttyACM1", "/dev/ttyS0", "/dev/ttyUSB0"]  # sorted
    assert ports["/dev/ttyACM0"].known == "ST-LINK/V2-1 virtual COM port" and ports["/dev/ttyACM0"].usb_id == "0483:374b"
    assert ports["/dev/ttyACM1"].known == "Arduino Uno R3" and ports["/dev/ttyUSB0"].known == "CP210x USB serial adapter"
    assert ports["/dev/ttyS0"].usb_id == "-"


def test_port_auto_picks_the_one_board_of_the_family(monkeypatch):
    assert auto_port(N2, PORTS) == "/dev/ttyACM0" and auto_port(UNO, PORTS) == "/dev/ttyACM1"
    # The Blue Pill's link is on a USB serial adapter (board.json usb_serial), never the ST-LINK.
    assert auto_port("bluepill", PORTS) == "/dev/ttyUSB0"
    with pytest.raises(FlashError, match=r"no USB serial adapter found for board 'bluepill'"):
        auto_port("bluepill", PORTS[:3])
    with pytest.raises(FlashError, match=r"no Arduino USB serial port found.*ttyACM0 \(0483:374b"):
        auto_port(UNO, PORTS[:2])
    with pytest.raises(FlashError, match=r"2 boards attached \(/dev/ttyACM0, /dev/ttyACM9\)"):
        auto_port(N2, PORTS + [_usb("/dev/ttyACM9", 0x0483, 0x374E)])
    # Through the flash path: pyserial's port list is what a plugged-in board would give.
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", lambda: PORTS)
    from mcuforge.flash import attach

    assert attach("auto", UNO).url == "/dev/ttyACM1"


def test_port_auto_in_the_flash_command(fake_firmware, monkeypatch):
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", lambda: PORTS)
    argv = open_session(fake_firmware(N2).elf, N2, method="stm32flash", port="auto", dry_run=True)
    assert argv[-1] == "/dev/ttyACM0"


def test_ports_command_runs_on_this_machine():
    import json
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "mcuforge", "ports", "--json", "-"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert isinstance(json.loads(p.stdout), list)
