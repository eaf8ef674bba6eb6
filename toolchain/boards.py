"""Boards: one folder per board under ``boards/``: a ``board.json`` and the C code only that
board needs (clock set-up, a UART no other board shares). Code common to an architecture is in
``firmware/runtime/arch/<arch>/``, drivers shared by boards in ``firmware/drivers/<kind>/``;
files an architecture derives from board.json (the Cortex-M linker script and vector table)
are generated from ``templates/arch/<arch>/``.

``load_board(name)`` reads and checks ``board.json``; ``list_boards()`` lists them all.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import resources

DEFAULT_BOARD = "netduinoplus2"  # what every command runs on when no board is named
EXIT_KINDS = ("semihosting", "halt", "reset")
EMULATOR_KINDS = ("qemu", "simavr")
USB_SERIAL_KINDS = ("stlink", "arduino", "adapter")  # what reaches a board's link UART (flash/ports.py)


DSP_CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p", "cortex-m55")


class BoardError(ValueError):
    pass


@dataclass(frozen=True)
class Emulator:
    kind: str  # "qemu" or "simavr"
    machine: str  # QEMU machine, or simavr's MCU name
    binary: str = "qemu-system-arm"
    icount_shift: int = 7
    args: tuple[str, ...] = ()
    # A QEMU machine that stands in for another part of its family (a NUCLEO-F446RE on the
    # netduinoplus2's STM32F405: the same core and USART) runs its own fixed clock, and the link
    # UART may be its n-th serial port (USART2: 1).
    clock_hz: int | None = None
    serial_index: int = 0


@dataclass(frozen=True)
class Board:
    name: str
    title: str
    mcu: str
    arch: str  # selects firmware/runtime/arch/<arch>/
    core: str
    fpu: bool
    toolchain_prefix: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    clock_hz: int
    flash_bytes: int
    ram_bytes: int  # usable for data + bss (arena) + stack
    stack_bytes: int
    memory: dict[str, Any]  # regions: origins (sizes are flash_bytes/ram_bytes), other regions
    uart: dict[str, Any]
    cycle_counter: str  # what the hardware has; the firmware reports what it found
    link_max_payload: int
    exit: str  # what EXIT does by default: "semihosting" (ends the emulator/debug session),
    # "halt" (AVR: `cli; sleep` ends a simavr run with the code, stops a real part), "reset"
    emulator: Emulator | None
    flash_methods: tuple[str, ...]
    flash_commands: dict[str, tuple[str, ...]]
    path: Path = field(compare=False)
    # What runtime, link and kernels take besides the model, for the check before building
    # (board.json "runtime": measured on the board, rounded up; the ELF has the exact figure).
    runtime_flash_bytes: int = 24 * 1024
    runtime_ram_bytes: int = 4 * 1024  # 3.5 KB measured on the Cortex-M boards: a 2 KB ring for 1 KB frames
    # Code per kernel (op kind) where flash is tight: added for each kind a model uses
    # (board.json "runtime" "kernel_flash_bytes", the kernel's object size on this board).
    kernel_flash_bytes: dict[str, int] = field(default_factory=dict)
    # Firmware settings for this board (board.json "defines", e.g. MF_LINK_MAX_HANDLERS).
    defines: dict[str, int | str] = field(default_factory=dict)
    opt: str = "-O2"  # board.json "opt": the optimisation level (-Os where flash is scarce)
    drivers: tuple[str, ...] = ()  # folders of firmware/drivers/ the board uses
    irq_count: int = 0  # interrupt lines (sizes a generated vector table)
    # PlatformIO's standard platform and board id for this board (board.json "platformio",
    # e.g. {"platform": "ststm32", "board": "genericSTM32F405RG"}); None: no PlatformIO board.
    platformio: dict[str, str] | None = None
    # The Arduino board this board is (board.json "arduino": {"fqbn": "arduino:avr:uno"}), for
    # the Arduino library export; None: not an Arduino board.
    arduino_fqbn: str | None = None
    # The USB bridge the link is reached through, for --port auto (board.json "usb_serial":
    # "stlink", "arduino" or "adapter"); None: by arch (the Arduino's for AVR, else an ST-LINK).
    usb_serial: str | None = None

    @property
    def dsp(self) -> bool:
        """The core has the Armv7E-M DSP extension (SMLAD, SXTB16): the generator picks *_dsp kernels."""
        return self.core in DSP_CORES

    @property
    def emulated(self) -> bool:
        return self.emulator is not None

    @property
    def unused_memory(self) -> dict[str, dict[str, Any]]:
        """Memory regions the firmware does not use (besides flash and RAM), with their sizes."""
        return {k: r for k, r in self.memory.items() if k not in ("flash", "ram") and "bytes" in r}

    @property
    def default_flash_method(self) -> str:
        return self.flash_methods[0]

    def tool(self, name: str) -> str:
        """Toolchain program, e.g. ``tool("gcc")`` -> ``arm-none-eabi-gcc``."""
        return self.toolchain_prefix + name

    def to_dict(self) -> dict[str, Any]:
        """Plain data for templates (the Makefile) and reports."""
        d = asdict(self)
        d["path"] = str(self.path)
        return d


_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "name": str, "title": str, "mcu": str, "arch": str, "core": str, "fpu": bool,
    "toolchain_prefix": str, "cflags": list, "ldflags": list, "clock_hz": int,
    "flash_bytes": int, "ram_bytes": int, "stack_bytes": int, "uart": dict,
    "cycle_counter": str, "link_max_payload": int, "exit": str, "flash_methods": list,
    "flash_commands": dict,
}


def _parse(folder: Path) -> Board:
    path = folder / "board.json"
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise BoardError(f"{path}: invalid JSON: {e}") from None
    if not isinstance(raw, dict):
        raise BoardError(f"{path}: expected a JSON object")
    for key, typ in _REQUIRED.items():
        if key not in raw:
            raise BoardError(f"{path}: missing field '{key}'")
        if not isinstance(raw[key], typ) or (typ is int and isinstance(raw[key], bool)):
            raise BoardError(f"{path}: field '{key}' must be {typ.__name__}, got {raw[key]!r}")
    if raw["name"] != folder.name:
        raise BoardError(f"{path}: name '{raw['name']}' differs from its folder '{folder.name}'")
    memory = raw.get("memory", {})
    if not isinstance(memory, dict) or not all(isinstance(r, dict) for r in memory.values()):
        raise BoardError(f"{path}: 'memory' must map region names to objects (origin, note)")
    for region in ("flash", "ram"):
        if "bytes" in memory.get(region, {}):
            raise BoardError(f"{path}: memory.{region}.bytes repeats a size: a board's sizes are given once, "
                             f"in '{region}_bytes'")
    drivers = raw.get("drivers", [])
    if not isinstance(drivers, list) or not all(isinstance(d, str) for d in drivers):
        raise BoardError(f"{path}: 'drivers' must be a list of folder names of firmware/drivers/")
    irq_count = raw.get("irq_count", 0)
    if not isinstance(irq_count, int) or isinstance(irq_count, bool) or not 0 <= irq_count <= 496:
        raise BoardError(f"{path}: 'irq_count' must be an int in 0..496")
    for key in ("clock_hz", "flash_bytes", "ram_bytes", "stack_bytes"):
        if raw[key] <= 0:
            raise BoardError(f"{path}: '{key}' must be positive")
    if not 64 <= raw["link_max_payload"] <= 65535:
        raise BoardError(f"{path}: 'link_max_payload' must be in 64..65535")
    if raw["stack_bytes"] >= raw["ram_bytes"]:
        raise BoardError(f"{path}: 'stack_bytes' leaves no RAM")
    if raw["exit"] not in EXIT_KINDS:
        raise BoardError(f"{path}: 'exit' must be one of {', '.join(EXIT_KINDS)}")
    if not raw["flash_methods"]:
        raise BoardError(f"{path}: 'flash_methods' is empty")
    emu = raw.get("emulator")
    emulator = None
    if emu is not None:
        if not isinstance(emu, dict) or emu.get("kind") not in EMULATOR_KINDS or not emu.get("machine"):
            raise BoardError(f"{path}: 'emulator' needs a kind ({', '.join(EMULATOR_KINDS)}) and a machine")
        for key, lo in (("clock_hz", 1), ("serial_index", 0)):
            if key in emu and (not isinstance(emu[key], int) or isinstance(emu[key], bool) or emu[key] < lo):
                raise BoardError(f"{path}: 'emulator.{key}' must be an int >= {lo}")
        emulator = Emulator(kind=emu["kind"], machine=emu["machine"],
                            binary=emu.get("binary", "qemu-system-arm"),
                            icount_shift=int(emu.get("icount_shift", 7)),
                            args=tuple(emu.get("args", ())),
                            clock_hz=emu.get("clock_hz"), serial_index=emu.get("serial_index", 0))
    for kind in EMULATOR_KINDS:
        if kind in raw["flash_methods"] and (emulator is None or emulator.kind != kind):
            raise BoardError(f"{path}: flash method '{kind}' needs an 'emulator' entry of kind '{kind}'")
    for method in raw["flash_methods"]:
        if method not in EMULATOR_KINDS and method not in raw["flash_commands"]:
            raise BoardError(f"{path}: flash method '{method}' has no entry in 'flash_commands'")
    defines = raw.get("defines", {})
    if not isinstance(defines, dict) or not all(
            re.fullmatch(r"MF_[A-Z0-9_]+", k) and isinstance(v, (int, str)) for k, v in defines.items()):
        raise BoardError(f"{path}: 'defines' must map MF_* names to numbers or strings")
    if "opt" in raw and raw["opt"] not in ("-O0", "-O1", "-O2", "-O3", "-Os"):
        raise BoardError(f"{path}: 'opt' must be one of -O0, -O1, -O2, -O3, -Os")
    runtime = raw.get("runtime", {})
    if isinstance(runtime, dict):  # the board's figures over its arch's table (e.g. a larger link buffer)
        runtime = {**_arch_runtime_sizes(raw["arch"]), **runtime}
    kernels = runtime.get("kernel_flash_bytes", {}) if isinstance(runtime, dict) else None
    if not isinstance(runtime, dict) or not all(
            isinstance(runtime.get(k, 0), int) and runtime.get(k, 0) >= 0 for k in ("flash_bytes", "ram_bytes")) \
            or not isinstance(kernels, dict) or not all(isinstance(v, int) and v >= 0 for v in kernels.values()):
        raise BoardError(f"{path}: 'runtime' must be {{\"flash_bytes\": N, \"ram_bytes\": N, "
                         f"\"kernel_flash_bytes\": {{op: N}}}}")
    pio = raw.get("platformio")
    if pio is not None and not (isinstance(pio, dict) and set(pio) == {"platform", "board"}
                                and all(isinstance(v, str) and v for v in pio.values())):
        raise BoardError(f"{path}: 'platformio' must be {{\"platform\": ID, \"board\": ID}} "
                         "(PlatformIO's platform and board ids)")
    arduino = raw.get("arduino")
    if arduino is not None and not (isinstance(arduino, dict) and set(arduino) == {"fqbn"}
                                    and re.fullmatch(r"[\w.-]+:[\w.-]+:[\w.-]+", str(arduino["fqbn"]))):
        raise BoardError(f"{path}: 'arduino' must be {{\"fqbn\": \"VENDOR:ARCH:BOARD\"}}")
    usb_serial = raw.get("usb_serial")
    if usb_serial is not None and usb_serial not in USB_SERIAL_KINDS:
        raise BoardError(f"{path}: 'usb_serial' must be one of {', '.join(USB_SERIAL_KINDS)}")
    return Board(
        name=raw["name"], title=raw["title"], mcu=raw["mcu"], arch=raw["arch"], core=raw["core"],
        fpu=raw["fpu"], toolchain_prefix=raw["toolchain_prefix"], cflags=tuple(raw["cflags"]),
        ldflags=tuple(raw["ldflags"]), clock_hz=raw["clock_hz"], flash_bytes=raw["flash_bytes"],
        ram_bytes=raw["ram_bytes"], stack_bytes=raw["stack_bytes"], memory=memory,
        uart=raw["uart"], cycle_counter=raw["cycle_counter"],
        link_max_payload=raw["link_max_payload"], exit=raw["exit"], emulator=emulator,
        flash_methods=tuple(raw["flash_methods"]),
        flash_commands={k: tuple(v) for k, v in raw["flash_commands"].items()},
        path=folder, drivers=tuple(drivers), irq_count=irq_count,
        **{f"runtime_{k}": runtime[k] for k in ("flash_bytes", "ram_bytes") if k in runtime},
        defines=defines, kernel_flash_bytes=dict(kernels),
        **({"opt": raw["opt"]} if "opt" in raw else {}), platformio=pio,
        arduino_fqbn=arduino["fqbn"] if arduino else None, usb_serial=usb_serial,
    )


def _arch_runtime_sizes(arch: str) -> dict[str, Any]:
    """The runtime sizes every board of an arch shares (``firmware/runtime/arch/<arch>/
    runtime_sizes.json``, e.g. the AVR kernels' code), for a board.json without ``runtime``."""
    path = resources.firmware_dir() / "runtime" / "arch" / arch / "runtime_sizes.json"
    if not path.is_file():
        return {}
    try:
        table = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise BoardError(f"{path}: invalid JSON: {e}") from None
    return {k: v for k, v in table.items() if k != "note"} if isinstance(table, dict) else {}


def board_names() -> list[str]:
    base = resources.boards_dir()
    return sorted(p.name for p in base.iterdir() if (p / "board.json").is_file())


def load_board(name: str | Board) -> Board:
    """The board called ``name`` (a folder in ``boards/``); a Board passes through."""
    if isinstance(name, Board):
        return name
    known = board_names()
    if name not in known:
        raise BoardError(f"unknown board '{name}'; known boards: {', '.join(known) or '(none)'}")
    return _parse(resources.boards_dir() / name)


def list_boards() -> list[Board]:
    return [load_board(n) for n in board_names()]
