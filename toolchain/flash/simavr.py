"""Run AVR firmware on simavr with a two-way serial port.

The ``simavr`` program prints UART output but takes no input, so mcuforge builds a small
runner on libsimavr + libsimavrparts' ``uart_pty`` (``simavr_uart.c`` beside this file) on
first use, cached in the user's cache folder under its source hash. The runner puts the
part's USART0 on a pseudo-terminal, prints its path and waits for a line on stdin before
the part runs (bytes sent before the host opens the pty would be lost); the session's
``url`` is that path, a pyserial URL like any serial port. The firmware ends the run with
`cli; sleep` (EXIT): the runner's exit status is then the firmware's exit code.

simavr is cycle-accurate and deterministic: Timer1 counts *simulated cycles* of the part.
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


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mcuforge"


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


def simavr_argv(images: list[Path], board: Board) -> list[str]:
    """The runner's command line: MCU, clock, then the firmware ELF or HEX images."""
    if board.emulator is None or board.emulator.kind != "simavr":
        raise FlashError(f"board '{board.name}' has no simavr emulator entry in its board.json")
    return [str(runner_path()), board.emulator.machine, str(board.clock_hz), *map(str, images)]


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


class SimavrSession(Session):
    """One simulated part. ``url`` is its USART0's pty; ``resume()`` starts the part."""

    simulated = True

    def __init__(self, images: list[Path], board: Board, log_path: str | Path | None = None,
                 start_timeout: float = 10.0):
        super().__init__()
        self.board = board
        self.argv = simavr_argv(images, board)
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
        """Start the part; call after opening ``url``."""
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
              log_path: str | Path | None = None, start_timeout: float = 10.0, **options) -> SimavrSession:
        """Run ``elf`` on the simulated part. ``images`` (Intel HEX files, e.g. a bootloader)
        replace the ELF: the part then starts at the last image's lowest address."""
        if options:
            raise FlashError(f"simavr backend: unknown options {sorted(options)}")
        files = [Path(p) for p in images] if images else [resolve_elf(elf)]
        for f in files:
            if not f.is_file():
                raise FlashError(f"firmware image not found: {f}")
        return SimavrSession(files, board, log_path=log_path, start_timeout=start_timeout)
