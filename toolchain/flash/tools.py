"""Real-board flashing through the vendor/community tools: openocd, pyocd, st-flash,
stm32flash, avrdude, dfu-util, and PlatformIO's upload. Each backend fills the board's command
template (board.json ``flash_commands``) and runs it; ``dry_run=True`` returns the argv without
running it. Before a tool runs, the image is checked against the part (``image.check_image``):
a tool is never handed an image for another board.

Placeholders: ``{elf}``, ``{bin}`` (raw image, made with objcopy), ``{hex}``, ``{port}``
(the serial port; stm32flash and avrdude program through it), ``{flash_origin}`` (board.json
``memory.flash.origin``, where a raw image goes), and for a PlatformIO project (``generate
--format platformio``) ``{project}`` (its folder) and ``{env}`` (its environment). The link then
talks over ``port`` (or the ``MCUFORGE_PORT`` environment variable).

A tool that fails (no probe attached, no board at the port) is a FlashError (exit 5) with the
tool's own words; ``retries=N`` runs it up to N more times, ``retry_delay`` seconds apart (a
board being plugged in, a probe still enumerating); each run is bounded by ``timeout``."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from ..boards import Board
from .base import FlashBackend, FlashError, Session, resolve_elf

PORT_ENV = "MCUFORGE_PORT"
INSTALL_HINTS = {
    "openocd": "apt-get install openocd",
    "pyocd": "pip install pyocd",
    "st-flash": "apt-get install stlink-tools",
    "stm32flash": "apt-get install stm32flash",
    "avrdude": "apt-get install avrdude",
    "dfu-util": "apt-get install dfu-util",
    "platformio": "pip install platformio",
}
PLATFORMIO_INI = "platformio.ini"


class SerialSession(Session):
    """A board that runs on its own (a real board after flashing, or one that was already
    running, e.g. an emulated board kept by ``mcuforge flash --listen``): its link is a
    serial port or pyserial URL the user names. It booted before the host attached, so
    its boot HELLO is gone: ``link()`` waits only briefly for one, then asks."""

    boot_timeout = 0.5

    def __init__(self, port: str | None, board: Board):
        super().__init__()
        self.board = board
        self._port = port

    @property
    def url(self) -> str:
        if not self._port:
            raise FlashError(f"no serial port for board '{self.board.name}': pass port=... "
                             f"(e.g. /dev/ttyUSB0, COM3) or set {PORT_ENV}")
        return self._port


class ToolBackend(FlashBackend):
    def __init__(self, name: str):
        self.name = name

    def command(self, elf: str | Path, board: Board, port: str | None = None) -> list[str]:
        """The exact argv this backend runs for ``elf`` on ``board``."""
        from .image import flash_origin

        template = board.flash_commands.get(self.name)
        if template is None or self.name not in board.flash_methods:
            raise FlashError(f"board '{board.name}' cannot be flashed with {self.name}; "
                             f"its methods: {', '.join(board.flash_methods)}")
        elf = Path(elf)
        values = {"elf": str(elf), "bin": str(elf.with_suffix(".bin")),
                  "hex": str(elf.with_suffix(".hex")), "port": port,
                  "flash_origin": f"0x{flash_origin(board):08x}"}
        if any("{project}" in a or "{env}" in a for a in template):
            values.update(project=str(platformio_project(elf)), env=elf.parent.name)
        argv = []
        for arg in template:
            if "{port}" in arg and not port:
                raise FlashError(f"{self.name} flashes over a serial port: pass port=... "
                                 f"or set {PORT_ENV}")
            try:
                argv.append(arg.format(**values))
            except (KeyError, IndexError) as e:
                raise FlashError(f"board '{board.name}': bad placeholder {e} in {self.name} "
                                 f"command {list(template)}") from None
        return argv

    def flash(self, elf, board: Board, *, port: str | None = None, dry_run: bool = False,
              timeout: float = 120.0, retries: int = 0, retry_delay: float = 1.0):
        from .image import check_image
        from .ports import resolve_port

        port = resolve_port(port or os.environ.get(PORT_ENV), board)
        elf = resolve_elf(elf)
        argv = self.command(elf, board, port)
        if dry_run:
            return argv
        if shutil.which(argv[0]) is None:
            raise FlashError(f"{argv[0]} not found on PATH: install it "
                             f"({INSTALL_HINTS.get(self.name, 'see its documentation')}) or use "
                             f"another method of board '{board.name}': {', '.join(board.flash_methods)}")
        check_image(elf, board)
        if any(a.endswith(".bin") for a in argv) or any(a.endswith(".hex") for a in argv):
            self._images(elf, board)
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(retry_delay)
            failure = self._run(argv, timeout)
            if failure is None:
                return SerialSession(port, board)
        what, output = failure
        tries = f" ({retries + 1} attempts)" if retries else ""
        raise FlashError(f"{self.name} {what}{tries}: {' '.join(argv)}" + (f"\n{output}" if output else ""))

    def _run(self, argv: list[str], timeout: float) -> tuple[str, str] | None:
        """Run the tool once: None when it succeeded, else what went wrong and its output."""
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return f"did not finish within {timeout:g} s", ""
        if proc.returncode != 0:
            return f"failed (exit {proc.returncode})", (proc.stdout + proc.stderr).strip()[-3000:]
        return None

    @staticmethod
    def _images(elf: Path, board: Board) -> None:
        """Make firmware.bin/.hex next to the ELF if missing or older (the Makefile makes them too)."""
        objcopy = board.tool("objcopy")
        for suffix, fmt in ((".bin", "binary"), (".hex", "ihex")):
            out = elf.with_suffix(suffix)
            if out.exists() and out.stat().st_mtime >= elf.stat().st_mtime:
                continue
            if shutil.which(objcopy) is None:
                raise FlashError(f"{objcopy} not found: needed to make {out.name}")
            proc = subprocess.run([objcopy, "-O", fmt, str(elf), str(out)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise FlashError(f"{objcopy} failed for {elf}: {proc.stderr.strip()}")


def platformio_project(elf: Path) -> Path:
    """The PlatformIO project an ELF was built in (``PROJECT/.pio/build/ENV/firmware.elf``)."""
    project = Path(elf).resolve().parent.parent.parent.parent
    if Path(elf).resolve().parent.parent.name != "build" or not (project / PLATFORMIO_INI).is_file():
        raise FlashError(f"{elf} is not the firmware of a PlatformIO project (.pio/build/ENV/firmware.elf "
                         f"beside {PLATFORMIO_INI}): export with 'generate --format platformio' and "
                         f"build it with 'pio run'")
    return project
