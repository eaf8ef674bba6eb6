"""Run firmware on QEMU, with a serial transport that loses nothing
(/work/shared/platform-notes.md): QEMU starts paused (``-S``, monitor on stdin) with its
UART on a TCP server socket on a free port (``wait=on``); the host connects with
pyserial's ``socket://`` and only then sends ``cont``. ``-icount shift=N`` makes SysTick
counts repeatable; semihosting lets the firmware end QEMU with an exit code. QEMU's
output goes to a log file (never an undrained pipe) and QEMU is killed on close."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from ..boards import Board
from .base import FlashBackend, FlashError, Session, resolve_elf

PORT_RE = re.compile(r"disconnected:tcp:127\.0\.0\.1:(\d+)")


def qemu_argv(elf: Path, board: Board, icount_shift: int | None = None, icount: bool = True) -> list[str]:
    """QEMU's command line; ``icount=False`` leaves out ``-icount`` (free-running virtual clock: SysTick
    follows host time, its counts are no instruction counts; the link's bytes cost less)."""
    if board.emulator is None or board.emulator.kind != "qemu":
        raise FlashError(f"board '{board.name}' has no QEMU emulator entry in its board.json")
    emu = board.emulator
    shift = emu.icount_shift if icount_shift is None else icount_shift
    return [emu.binary, "-M", emu.machine, "-display", "none", "-nic", "none",
            "-monitor", "stdio", "-S",
            *["-serial", "null"] * emu.serial_index,  # the machine's UARTs before the link's
            "-serial", "tcp:127.0.0.1:0,server=on,wait=on,nodelay=on",
            "-semihosting-config", "enable=on,target=native",
            *(["-icount", f"shift={shift}"] if icount else []),
            *emu.args, "-kernel", str(elf)]


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


class QemuSession(Session):
    def __init__(self, elf: Path, board: Board, icount_shift: int | None = None,
                 log_path: str | Path | None = None, start_timeout: float = 15.0, icount: bool = True):
        super().__init__()
        self.elf = elf
        self.board = board
        self.argv = qemu_argv(elf, board, icount_shift, icount)
        # without -icount the counts are SysTick ticks, not instructions (the link labels them so)
        self.icount_shift = (board.emulator.icount_shift if icount_shift is None else icount_shift) if icount else None
        if shutil.which(self.argv[0]) is None:
            raise FlashError(f"{self.argv[0]} not found on PATH: install qemu-system-arm "
                             "(apt-get install qemu-system-arm)")
        self._tmpdir = None
        if log_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="mcuforge-qemu-")
            log_path = Path(self._tmpdir) / "qemu.log"
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "wb")
        self._resumed = False
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._finalizer = weakref.finalize(self, _kill, self.proc)
        try:
            self.port = self._wait_for_port(start_timeout)
        except BaseException:
            self.close()
            raise
        self.url = f"socket://127.0.0.1:{self.port}"

    def _wait_for_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = PORT_RE.search(self.log_text())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise FlashError(f"QEMU exited with status {self.proc.returncode} before opening its "
                                 f"serial port ({self.board.emulator.machine}, {self.elf}):\n"
                                 f"{self.log_text()[-3000:]}")
            time.sleep(0.01)
        raise FlashError(f"QEMU did not open its serial port within {timeout:.0f} s "
                         f"({self.elf}):\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def resume(self) -> None:
        """Send ``cont`` to the monitor; call after connecting to ``url``."""
        if self._resumed:
            return
        self._monitor("cont")
        self._resumed = True

    def reset(self) -> None:
        """Reset the board (QEMU's monitor ``system_reset``), as its reset button would: the
        firmware boots again and sends its boot HELLO on the same serial connection."""
        self._monitor("system_reset")

    def _monitor(self, command: str) -> None:
        if self.proc.poll() is not None:
            raise FlashError(f"QEMU is not running (exit {self.proc.returncode}):\n{self.log_text()[-3000:]}")
        try:
            self.proc.stdin.write(command.encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise FlashError(f"QEMU monitor unreachable: {e}") from e

    @property
    def exit_code(self) -> int | None:
        """QEMU's exit status once it ended: the firmware's semihosting exit code."""
        return self.proc.poll()

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for QEMU to end (after the firmware's EXIT); returns its exit status."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise FlashError(f"QEMU still running {timeout:.0f} s after the firmware was told "
                             f"to exit:\n{self.log_text()[-3000:]}") from None

    def close(self) -> None:
        super().close()
        if self.proc.poll() is None:
            try:
                self._monitor("quit")
                self.proc.wait(2.0)
            except (FlashError, subprocess.TimeoutExpired):
                pass
        self._finalizer()  # kill if still alive, and reap
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self._log.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


class QemuBackend(FlashBackend):
    name = "qemu"

    def flash(self, elf, board: Board, *, icount_shift: int | None = None,
              log_path: str | Path | None = None, start_timeout: float = 15.0, icount: bool = True,
              **options) -> QemuSession:
        if options:
            raise FlashError(f"qemu backend: unknown options {sorted(options)}")
        return QemuSession(resolve_elf(elf), board, icount_shift=icount_shift, log_path=log_path,
                           start_timeout=start_timeout, icount=icount)

