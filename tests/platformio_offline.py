"""PlatformIO without a network, for the tests: a core folder holding SCons from PyPI as
PlatformIO's ``tool-scons`` package, and a small local platform (platform.json, platform.py, a
builder script, board manifests) that compiles with Debian's arm-none-eabi-gcc and avr-gcc, as
``ststm32`` and ``atmelavr`` do for a project without a framework: -mcpu/-mthumb or -mmcu and
F_CPU from the board manifest, the program from src/ by PlatformIO's own BuildProgram, the
linker script from ``board_build.ldscript``, an Intel HEX beside the ELF.

A generated project names the standard platform (it builds as it is for users with internet);
``offline_project`` copies it and points only its ``platform =`` line at the local one.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import SCons

PLATFORM = "mcuforgeoffline"  # PlatformIO derives the class name: McuforgeofflinePlatform
# The board ids generated projects name (board.json "platformio"), with what the local
# platform needs of their manifests.
BOARDS = {
    "genericSTM32F405RG": dict(arch="arm", cpu="cortex-m4", mcu="stm32f405rgt6", f_cpu="168000000L",
                               flash=1048576, ram=131072),
    "uno": dict(arch="avr", cpu="", mcu="atmega328p", f_cpu="16000000L", flash=32256, ram=2048),
}

BUILDER = '''\
"""Offline stand-in for ststm32/atmelavr without a framework (tests/platformio_offline.py)."""
from os.path import join

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
arch = board.get("build.arch")
prefix = {"arm": "arm-none-eabi-", "avr": "avr-"}[arch]
env.Replace(AR=prefix + "gcc-ar", AS=prefix + "gcc", CC=prefix + "gcc", CXX=prefix + "g++",
            LINK=prefix + "gcc", OBJCOPY=prefix + "objcopy", RANLIB=prefix + "gcc-ranlib",
            SIZETOOL=prefix + "size", PROGSUFFIX=".elf")
if arch == "arm":
    cpu = ["-mcpu=" + board.get("build.cpu"), "-mthumb"]
else:
    cpu = ["-mmcu=" + board.get("build.mcu")]
env.Append(CCFLAGS=cpu + ["-ffunction-sections", "-fdata-sections"], LINKFLAGS=cpu,
           CPPDEFINES=[("F_CPU", "$BOARD_F_CPU")])
env.Replace(PROGNAME="firmware")  # as the standard platforms name it
elf = env.BuildProgram()
hexfile = env.Command(join("$BUILD_DIR", "${PROGNAME}.hex"), elf, "$OBJCOPY -O ihex $SOURCES $TARGET")
if arch == "avr":  # as atmelavr uploads an Arduino board: avrdude through its bootloader
    env.Replace(UPLOADCMD="avrdude -c arduino -p $BOARD_MCU -P $UPLOAD_PORT -b $UPLOAD_SPEED -U flash:w:$SOURCE:i",
                UPLOAD_SPEED=115200)
AlwaysBuild(env.Alias("upload", hexfile, "$UPLOADCMD"))
Default([hexfile])
'''


def write_core(root: Path) -> dict[str, str]:
    """The core folder and the local platform under ``root``; returns the environment that makes
    ``pio`` use them and never reach for the network."""
    core = root / "core"
    scons = core / "packages" / "tool-scons"
    scons.mkdir(parents=True, exist_ok=True)
    version = _tool_scons_version()
    (scons / "package.json").write_text(json.dumps({"name": "tool-scons", "version": version,
                                                    "description": "SCons from PyPI", "system": "*"}))
    (scons / ".piopm").write_text(json.dumps({"type": "tool", "name": "tool-scons", "version": version,
                                              "spec": {"owner": "platformio", "id": None, "name": "tool-scons",
                                                       "requirements": None, "uri": None}}))
    (scons / "scons.py").write_text("import SCons.Script\n\nSCons.Script.main()\n")

    platform = root / "platform"
    (platform / "builder").mkdir(parents=True, exist_ok=True)
    (platform / "boards").mkdir(exist_ok=True)
    (platform / "platform.json").write_text(json.dumps({
        "name": PLATFORM, "title": "mcuforge offline", "version": "0.0.1", "description": "tests only",
        "frameworks": {}, "packages": {}}))
    (platform / "platform.py").write_text(
        "from platformio.public import PlatformBase\n\n\n"
        f"class {PLATFORM.capitalize()}Platform(PlatformBase):\n    pass\n")
    (platform / "builder" / "main.py").write_text(BUILDER)
    for board, b in BOARDS.items():
        (platform / "boards" / f"{board}.json").write_text(json.dumps({
            "build": {"arch": b["arch"], "cpu": b["cpu"], "mcu": b["mcu"], "f_cpu": b["f_cpu"]},
            "frameworks": [], "name": board, "url": "https://example.invalid", "vendor": "mcuforge tests",
            "upload": {"maximum_size": b["flash"], "maximum_ram_size": b["ram"]}}))
    return {"PLATFORMIO_CORE_DIR": str(core), "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "No",
            "PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL": "36500",
            "PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD": "0", "PLATFORMIO_NO_ANSI": "true",
            "PLATFORMIO_PLATFORM": str(platform)}


def _tool_scons_version() -> str:
    """The version PlatformIO requires of tool-scons (it checks before it runs a build)."""
    from platformio.dependencies import get_core_dependencies

    spec = get_core_dependencies()["tool-scons"]  # e.g. "~4.41101.0"
    return re.sub(r"^[~^=<>]+", "", spec)


def offline_project(project: Path, dest: Path, platform_dir: str) -> Path:
    """A copy of the generated ``project`` whose ``platform =`` line names the local platform
    (the one line changed)."""
    shutil.copytree(project, dest)
    ini = dest / "platformio.ini"
    text, n = re.subn(r"^platform = \S+$", f"platform = symlink://{platform_dir}", ini.read_text(), flags=re.M)
    assert n == 1, ini.read_text()
    ini.write_text(text)
    return dest


def pio(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("pio")
    return subprocess.run([str(exe), *args], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout)


assert SCons  # SCons from PyPI (the test extra) is what tool-scons runs
