"""Board definitions (mcuforge.boards) and resource lookup (mcuforge.resources)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from conftest import EMULATED_BOARDS, STAND_IN_BOARDS
from mcuforge import resources
from mcuforge.boards import BoardError, list_boards, load_board


def test_netduinoplus2():
    b = load_board("netduinoplus2")
    assert (b.mcu, b.core, b.fpu, b.clock_hz) == ("STM32F405RG", "cortex-m4", True, 168_000_000)
    assert b.flash_bytes == 1 << 20 and b.ram_bytes == 128 * 1024
    assert int(b.memory["flash"]["origin"], 16) == 0x08000000
    assert int(b.memory["ram"]["origin"], 16) == 0x20000000
    assert int(b.uart["base"], 16) == 0x40011000
    assert "-mfpu=fpv4-sp-d16" in b.cflags and "-mfloat-abi=hard" in b.cflags
    assert b.emulator.machine == "netduinoplus2" and b.default_flash_method == "qemu"
    assert {"openocd", "st-flash", "pyocd", "stm32flash"} <= set(b.flash_methods)
    assert b.tool("gcc") == "arm-none-eabi-gcc"


def test_mps2_an386():
    b = load_board("mps2-an386")
    assert b.clock_hz == 25_000_000 and b.core == "cortex-m4" and b.fpu
    assert int(b.uart["base"], 16) == 0x40004000 and b.uart["kind"] == "cmsdk-uart"
    assert b.emulator.machine == "mps2-an386" and b.flash_methods == ("qemu",)


@pytest.mark.parametrize("name, core, fpu, flag", [("mps2-an385", "cortex-m3", False, "-mfloat-abi=soft"),
                                                  ("mps2-an500", "cortex-m7", True, "-mfpu=fpv5-d16")])
def test_mps2_m3_and_m7(name, core, fpu, flag):
    b = load_board(name)
    assert (b.core, b.fpu, b.clock_hz) == (core, fpu, 25_000_000) and flag in b.cflags
    assert b.drivers == ("cmsdk-uart",) and b.uart["irq"] == 0 and b.irq_count == 32
    assert b.emulator.machine == name and b.flash_methods == ("qemu",)


def test_every_qemu_board_runs_the_zoo():
    """A new QEMU board joins EMULATED_BOARDS, the list test_validate runs the zoo on, or is a
    stand-in on the machine of one of them."""
    qemu = {b.name for b in list_boards() if b.emulator is not None and b.emulator.kind == "qemu"}
    assert qemu == set(EMULATED_BOARDS) | set(STAND_IN_BOARDS)
    for name, machine_of in STAND_IN_BOARDS.items():
        assert load_board(name).emulator.machine == load_board(machine_of).emulator.machine


def _qemu_ram_regions(machine: str) -> list[tuple[int, int]]:
    """(start, end) of every RAM/ROM region QEMU maps for ``machine`` (monitor ``info mtree -f``)."""
    proc = subprocess.run(["qemu-system-arm", "-M", machine, "-S", "-display", "none", "-nic", "none",
                           "-monitor", "stdio"], input="info mtree -f\nquit\n", capture_output=True,
                          text=True, timeout=30)
    return [(int(a, 16), int(b, 16) + 1) for a, b in
            re.findall(r"^\s*([0-9a-f]{16})-([0-9a-f]{16}) \(prio -?\d+, (?:ram|rom)\)", proc.stdout, re.M)]


@pytest.mark.qemu
@pytest.mark.parametrize("name", EMULATED_BOARDS + list(STAND_IN_BOARDS))
def test_board_memory_is_mapped_by_qemu(name):
    """board.json's flash and RAM (origin + size) lie inside memory QEMU maps for the machine."""
    b = load_board(name)
    mapped = _qemu_ram_regions(b.emulator.machine)
    assert mapped, "no memory regions read from QEMU's monitor"
    for region, size in (("flash", b.flash_bytes), ("ram", b.ram_bytes)):
        start = int(b.memory[region]["origin"], 16)
        assert any(lo <= start and start + size <= hi for lo, hi in mapped), (region, hex(start), size, mapped)


def test_list_boards_and_to_dict():
    names = [b.name for b in list_boards()]
    assert {"netduinoplus2", "mps2-an386"} <= set(names)
    d = load_board("mps2-an386").to_dict()
    assert d["name"] == "mps2-an386" and d["emulator"]["machine"] == "mps2-an386"
    json.dumps(d)  # plain data for templates and reports


def test_unknown_board_lists_known_ones():
    with pytest.raises(BoardError) as e:
        load_board("arduino-mega9000")
    assert "arduino-mega9000" in str(e.value)
    assert "netduinoplus2" in str(e.value) and "mps2-an386" in str(e.value)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private MCUFORGE_HOME with a copy of the netduinoplus2 board to break."""
    for d in ("firmware", "templates"):
        (tmp_path / d).mkdir()
    shutil.copytree(resources.boards_dir() / "netduinoplus2", tmp_path / "boards" / "netduinoplus2")
    monkeypatch.setenv("MCUFORGE_HOME", str(tmp_path))
    return tmp_path


def _edit(home, **changes):
    path = home / "boards" / "netduinoplus2" / "board.json"
    raw = json.loads(path.read_text())
    for k, v in changes.items():
        if v is None:
            raw.pop(k)
        else:
            raw[k] = v
    path.write_text(json.dumps(raw))
    return path


def test_home_override(home):
    assert resources.root() == home
    assert [b.name for b in list_boards()] == ["netduinoplus2"]


def test_home_override_missing_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("MCUFORGE_HOME", str(tmp_path))
    with pytest.raises(resources.ResourceError, match="MCUFORGE_HOME"):
        resources.boards_dir()


@pytest.mark.parametrize("changes, message", [
    ({"clock_hz": None}, "missing field 'clock_hz'"),
    ({"fpu": "yes"}, "'fpu' must be bool"),
    ({"ram_bytes": True}, "'ram_bytes' must be int"),
    ({"name": "other"}, "differs from its folder"),
    ({"link_max_payload": 8}, "link_max_payload"),
    ({"exit": "explode"}, "'exit'"),
    ({"flash_methods": ["qemu", "jlink"]}, "'jlink' has no entry"),
    ({"emulator": None}, "needs an 'emulator'"),
    ({"usb_serial": "bluetooth"}, "'usb_serial' must be one of stlink, arduino, adapter"),
    ({"emulator": {"kind": "qemu", "machine": "netduinoplus2", "serial_index": -1}}, "'emulator.serial_index'"),
    ({"emulator": {"kind": "qemu", "machine": "netduinoplus2", "clock_hz": "fast"}}, "'emulator.clock_hz'"),
])
def test_bad_board_json_names_file_and_field(home, changes, message):
    path = _edit(home, **changes)
    with pytest.raises(BoardError) as e:
        load_board("netduinoplus2")
    assert message in str(e.value) and (str(path) in str(e.value) or "netduinoplus2" in str(e.value))


def test_board_memory_sizes_are_given_once(home):
    path = home / "boards" / "netduinoplus2" / "board.json"
    raw = json.loads(path.read_text())
    raw["memory"]["ram"]["bytes"] = 196608
    path.write_text(json.dumps(raw))
    with pytest.raises(BoardError, match=r"memory.ram.bytes repeats a size.*'ram_bytes'"):
        load_board("netduinoplus2")


@pytest.mark.parametrize("changes, message", [
    ({"drivers": "cmsdk-uart"}, "'drivers' must be a list"),
    ({"irq_count": -1}, "'irq_count' must be an int"),
    ({"memory": []}, "'memory' must map region names"),
])
def test_bad_optional_fields(home, changes, message):
    _edit(home, **changes)
    with pytest.raises(BoardError, match=message):
        load_board("netduinoplus2")


def test_a_board_adds_a_flash_method_by_data(home):
    """A method with a command template in board.json works with no edit to mcuforge.flash."""
    raw = json.loads((home / "boards" / "netduinoplus2" / "board.json").read_text())
    _edit(home, flash_methods=raw["flash_methods"] + ["jlink"],
          flash_commands={**raw["flash_commands"], "jlink": ["JLinkExe", "-device", "STM32F405RG", "{hex}"]})
    from mcuforge.flash import get_backend

    b = load_board("netduinoplus2")
    assert get_backend("jlink", b).command("/fw/firmware.elf", b) == ["JLinkExe", "-device", "STM32F405RG",
                                                                      "/fw/firmware.hex"]


def test_board_invalid_json(home):
    (home / "boards" / "netduinoplus2" / "board.json").write_text("{nope")
    with pytest.raises(BoardError, match="invalid JSON"):
        load_board("netduinoplus2")
