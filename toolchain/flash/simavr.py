"""Run AVR firmware on simavr with a two-way serial port.

The ``simavr`` program prints UART output but takes no input, so mcuforge builds a small
runner on libsimavr + libsimavrparts' ``uart_pty`` (``simavr_uart.c`` beside this file) on
first use, cached in the user's cache folder under its source hash. The runner puts the
part's USART0 on a pseudo-terminal, prints its path and waits for a line on stdin before
the part runs (bytes sent before the host opens the pty would be lost); the session's
``url`` is that path, a pyserial URL like any serial port. The firmware ends the run with
`cli; sleep` (EXIT): the runner's exit status is then the firmware's exit code.

simavr is cycle-accurate and deterministic: Timer1 counts *simulated cycles* of the part.

``via_bootloader=True`` puts the firmware on the part the way a real Uno gets it: the part
starts in Optiboot, the board's ``avrdude`` command uploads the firmware's HEX through the pty
(STK500 protocol, the bootloader writes flash with SPM), Optiboot's watchdog reset starts it.
As on the board, Optiboot's 1 s upload window opens when avrdude is ready: the runner holds
the part in reset until avrdude's first byte (a pty has no DTR for the Uno's auto-reset) and
runs the bootloader no faster than real time (simavr runs it ~2x faster; started at once, the
window closed before a slow-starting avrdude sent its first GET_SYNC, and the upload failed
with "unable to open programmer").
Debian's prebuilt ``optiboot_atmega328.hex`` cannot be used for this: built with avr-gcc 5.4
it is 532 bytes, so it runs past the end of flash (appStart at 0x8004) and its version word at
0x7FFE overwrites an instruction of watchdogConfig. ``optiboot_hex()`` builds Optiboot from
Debian's own optiboot.c instead, without the start-up LED flashes: 496 bytes, in the 512-byte
boot section.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from ..boards import Board
from ..usercache import cache_dir
from .base import FlashBackend, FlashError, Session, resolve_elf

RUNNER_SOURCE = Path(__file__).with_name("simavr_uart.c")
RUNNER_LIBS = ["-lsimavr", "-lsimavrparts", "-lelf", "-lpthread", "-lutil"]
SIMAVR_INCLUDE = "/usr/include/simavr"  # uart_pty.h includes its siblings by bare name
APT_HINT = "apt-get install gcc libsimavr-dev libsimavrparts1 libelf-dev"
PTY_RE = re.compile(r"^pty (\S+)$", re.M)
HALT_RE = re.compile(r"^(halted -?\d+|crashed pc \S+)$", re.M)
STACK_RE = re.compile(r"^stack (\d+)$", re.M)
CYCLES_RE = re.compile(r"^cycles (\d+)$", re.M)
CRASH_STATUS = 125

ARDUINO_AVR = Path("/usr/share/arduino/hardware/arduino/avr")  # Debian's arduino-core-avr
OPTIBOOT_DIR = ARDUINO_AVR / "bootloaders" / "optiboot"
DEBIAN_OPTIBOOT_HEX = OPTIBOOT_DIR / "optiboot_atmega328.hex"  # 532 bytes: see the module doc
# Optiboot for the Uno (Makefile target atmega328) without LED_START_FLASHES.
OPTIBOOT_FLAGS = ["-g", "-Wall", "-Os", "-fno-inline-small-functions", "-fno-split-wide-types", "-mshort-calls",
                  "-mmcu=atmega328p", "-DF_CPU=16000000L", "-DBAUD_RATE=115200", "-DLED_START_FLASHES=0",
                  "-Wl,--section-start=.text=0x7e00", "-Wl,--section-start=.version=0x7ffe",
                  "-Wl,--relax", "-Wl,--gc-sections", "-nostartfiles", "-nostdlib"]
BOOT_SECTION = (0x7E00, 0x8000)


def runner_path() -> Path:
    """The runner binary, built on first use (keyed by its source hash, so an edit rebuilds)."""
    source = RUNNER_SOURCE.read_bytes()
    key = hashlib.sha256(source + " ".join(RUNNER_LIBS).encode()).hexdigest()[:16]
    exe = cache_dir() / f"mcuforge-simavr-{key}"
    if exe.is_file():
        return exe
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        raise FlashError(f"no C compiler to build the simavr runner ({APT_HINT})")
    exe.parent.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_name(f"{exe.name}.{os.getpid()}.tmp")
    argv = [cc, "-O2", "-std=gnu99", f"-I{SIMAVR_INCLUDE}", "-o", str(tmp), str(RUNNER_SOURCE), *RUNNER_LIBS]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise FlashError(f"building the simavr runner failed ({APT_HINT}):\n{' '.join(argv)}\n"
                         f"{proc.stderr.strip()[-2000:]}")
    os.replace(tmp, exe)  # atomic: parallel sessions never run half a binary
    return exe


def optiboot_hex() -> Path:
    """Optiboot for the Uno built from Debian's arduino-core-avr source (cached by its hash),
    checked to lie within the 512-byte boot section."""
    source = OPTIBOOT_DIR / "optiboot.c"
    if not source.is_file():
        raise FlashError(f"Optiboot source not found ({source}): apt-get install arduino-core-avr")
    digest = hashlib.sha256(b"".join((OPTIBOOT_DIR / f).read_bytes() for f in ("optiboot.c", "boot.h", "pin_defs.h", "stk500.h"))
                            + " ".join(OPTIBOOT_FLAGS).encode()).hexdigest()[:16]
    hex_path = cache_dir() / f"optiboot-atmega328-{digest}.hex"
    if hex_path.is_file():
        return hex_path
    hex_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mcuforge-optiboot-") as tmp:
        elf = Path(tmp) / "optiboot.elf"
        proc = subprocess.run(["avr-gcc", *OPTIBOOT_FLAGS, "-o", str(elf), str(source)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise FlashError(f"building Optiboot failed:\n{proc.stderr.strip()[-2000:]}")
        tmp_hex = hex_path.with_name(f"{hex_path.name}.{os.getpid()}.tmp")
        subprocess.run(["avr-objcopy", "-O", "ihex", str(elf), str(tmp_hex)], check=True, capture_output=True)
    lo, hi = hex_span(tmp_hex)
    if lo < BOOT_SECTION[0] or hi > BOOT_SECTION[1]:
        tmp_hex.unlink()
        raise FlashError(f"Optiboot built to 0x{lo:04x}..0x{hi:04x}, outside the boot section")
    os.replace(tmp_hex, hex_path)
    return hex_path


def hex_span(path: Path) -> tuple[int, int]:
    """Lowest address and one past the highest of an Intel HEX file's data."""
    base, lo, hi = 0, None, None
    for line in Path(path).read_text().split():
        count, addr, kind = int(line[1:3], 16), int(line[3:7], 16), int(line[7:9], 16)
        if kind == 0:
            lo = base + addr if lo is None else min(lo, base + addr)
            hi = base + addr + count if hi is None else max(hi, base + addr + count)
        elif kind in (2, 4):
            base = int(line[9:13], 16) << (4 if kind == 2 else 16)
    if lo is None:
        raise FlashError(f"{path}: no data records")
    return lo, hi


def simavr_argv(images: list[Path], board: Board, auto_reset: bool = False) -> list[str]:
    """The runner's command line: MCU, clock, then the firmware ELF or HEX images.
    ``auto_reset``: the part starts in the bootloader image (the last) on the host's first byte,
    as the Uno's DTR auto-reset starts Optiboot when avrdude opens the port (``simavr_uart.c``)."""
    if board.emulator is None or board.emulator.kind != "simavr":
        raise FlashError(f"board '{board.name}' has no simavr emulator entry in its board.json")
    return [str(runner_path()), *(["--auto-reset"] if auto_reset else []), board.emulator.machine,
            str(board.clock_hz), *map(str, images)]


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


class SimavrSession(Session):
    """One simulated part. ``url`` is its USART0's pty; ``resume()`` starts the part."""

    simulated = True
    uploaded = False  # True when the firmware came through the bootloader (via_bootloader)

    def __init__(self, images: list[Path], board: Board, log_path: str | Path | None = None,
                 start_timeout: float = 10.0, auto_reset: bool = False):
        super().__init__()
        self.board = board
        self.argv = simavr_argv(images, board, auto_reset)
        self._tmpdir = None
        if log_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="mcuforge-simavr-")
            log_path = Path(self._tmpdir) / "simavr.log"
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "wb")
        self._resumed = False
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._finalizer = weakref.finalize(self, _kill, self.proc)
        try:
            self.url = self._wait_for_pty(start_timeout)
        except BaseException:
            self.close()
            raise

    def _wait_for_pty(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = PTY_RE.search(self.log_text())
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise FlashError(f"simavr runner exited with status {self.proc.returncode} before "
                                 f"opening its serial port:\n{self.log_text()[-3000:]}")
            time.sleep(0.005)
        raise FlashError(f"simavr runner did not open its serial port within {timeout:.0f} s:\n"
                         f"{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def resume(self) -> None:
        """Start the part; call after opening ``url`` (a part started for a bootloader upload
        already runs: the application's HELLO may be sent before the host listens, and the
        link then asks for one)."""
        if self._resumed:
            return
        if self.proc.poll() is not None:
            raise FlashError(f"simavr runner is not running (exit {self.proc.returncode}):\n"
                             f"{self.log_text()[-3000:]}")
        try:
            self.proc.stdin.write(b"go\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise FlashError(f"simavr runner unreachable: {e}") from e
        self._resumed = True

    @property
    def halted(self) -> str | None:
        """"halted CODE" or "crashed pc ADDR" once the firmware has stopped the part."""
        m = HALT_RE.search(self.log_text())
        return m.group(1) if m else None

    @property
    def stack_used(self) -> int | None:
        """Most stack bytes the firmware used in the run (painted RAM), once it halted."""
        m = STACK_RE.search(self.log_text())
        return int(m.group(1)) if m else None

    @property
    def total_cycles(self) -> int | None:
        """Simulated cycles of the whole run, once it halted."""
        m = CYCLES_RE.search(self.log_text())
        return int(m.group(1)) if m else None

    @property
    def exit_code(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the firmware to halt the part (after its EXIT); returns its exit code."""
        deadline = time.monotonic() + timeout
        while self.halted is None and self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise FlashError(f"simavr still running {timeout:.0f} s after the firmware was "
                                 f"told to exit:\n{self.log_text()[-3000:]}")
            time.sleep(0.005)
        self._close_stdin()  # the runner exits once its stdin closes
        try:
            return self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise FlashError(f"simavr runner did not end after the part halted:\n"
                             f"{self.log_text()[-3000:]}") from None

    def _close_stdin(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def close(self) -> None:
        super().close()
        self._close_stdin()
        if self.proc.poll() is None and self.halted is not None:
            try:
                self.proc.wait(1.0)
            except subprocess.TimeoutExpired:
                pass
        self._finalizer()  # kill if still running, and reap
        self._log.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


class SimavrBackend(FlashBackend):
    name = "simavr"

    def flash(self, elf, board: Board, *, images: list[str | Path] | None = None,
              via_bootloader: bool = False, uploader: str = "avrdude", log_path: str | Path | None = None,
              start_timeout: float = 10.0, **options) -> SimavrSession:
        """Run ``elf`` on the simulated part. ``images`` (Intel HEX files, e.g. a bootloader)
        replace the ELF: the part then starts at the last image's lowest address.
        ``via_bootloader``: start in Optiboot and upload ``elf`` with the board's ``uploader``
        command (avrdude, or ``platformio``: ``pio run -t upload`` of the PlatformIO project
        the ELF was built in) through the part's serial port, as on a real Uno."""
        if options:
            raise FlashError(f"simavr backend: unknown options {sorted(options)}")
        if via_bootloader:
            return self._upload_through_optiboot(resolve_elf(elf), board, log_path, start_timeout, uploader)
        files = [Path(p) for p in images] if images else [resolve_elf(elf)]
        for f in files:
            if not f.is_file():
                raise FlashError(f"firmware image not found: {f}")
        return SimavrSession(files, board, log_path=log_path, start_timeout=start_timeout)

    @staticmethod
    def _upload_through_optiboot(elf: Path, board: Board, log_path, start_timeout: float,
                                 uploader: str) -> SimavrSession:
        from .tools import ToolBackend

        # The part stays in reset until avrdude's first byte (auto_reset), then Optiboot waits
        # for the upload (it saw an external reset) for 1 s of real time or more.
        session = SimavrSession([optiboot_hex()], board, log_path=log_path, start_timeout=start_timeout,
                                auto_reset=True)
        try:
            session.resume()
            ToolBackend(uploader).flash(elf, board, port=session.url)
        except BaseException:
            session.close()
            raise
        session.uploaded = True
        session.boot_timeout = 0.5  # its boot HELLO went out while avrdude held the port
        return session
