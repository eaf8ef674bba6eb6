"""Put firmware on a board: ``open_session(project_or_elf, board)`` -> a running Session.

Backends: ``qemu`` and ``simavr`` (emulated boards; the default where the board lists one
first), and for any other method a board lists, the tool its board.json ``flash_commands``
names (openocd, pyocd, st-flash, stm32flash, avrdude, ...): a board adds a flash method without
an edit here."""
from __future__ import annotations

from pathlib import Path

from ..boards import EMULATOR_KINDS, Board, list_boards, load_board
from ..errors import UsageError
from .base import FlashBackend, FlashError, Session, resolve_elf
from .qemu import QemuBackend, QemuSession, qemu_argv
from .simavr import SimavrBackend, SimavrSession, simavr_argv
from .tools import SerialSession, ToolBackend

# Backends that are more than a command template; every other method is a ToolBackend.
BACKENDS: dict[str, FlashBackend] = {"qemu": QemuBackend(), "simavr": SimavrBackend()}


def known_methods() -> list[str]:
    """Every flash method: the built-in backends and the tools some board.json names."""
    return sorted(set(BACKENDS).union(*(b.flash_commands for b in list_boards())))


def get_backend(method: str, board: Board | None = None) -> FlashBackend:
    """The backend for ``method``: a built-in one, or the command template ``board`` gives it."""
    if method in BACKENDS:
        return BACKENDS[method]
    if board is not None and method in board.flash_commands:
        return ToolBackend(method)
    if method in known_methods():
        raise UsageError(f"flash method '{method}' needs a board whose board.json gives its command")
    raise UsageError(f"unknown flash method '{method}'; known: {', '.join(known_methods())}")


def check_method(board: Board | str, method: str | None = None, port: str | None = None) -> str | None:
    """The flash method to use for ``board`` (default: its first), refused as bad usage before
    anything is built: unknown, not the board's, or ``port`` given to an emulator (which opens
    its own link). None with ``port`` and no ``method``: nothing is flashed, the board already
    runs at ``port`` (``attach``)."""
    board = load_board(board)
    if method is None and port:
        return None
    method = method or board.default_flash_method
    if method not in known_methods():
        raise UsageError(f"unknown flash method '{method}'; known: {', '.join(known_methods())}")
    if method not in board.flash_methods:
        raise UsageError(f"board '{board.name}' does not support flash method '{method}'; "
                         f"its methods: {', '.join(board.flash_methods)}")
    if port is not None and method in EMULATOR_KINDS:
        real = [m for m in board.flash_methods if m not in EMULATOR_KINDS]
        raise UsageError(f"--port {port} is the serial port of a real board, but the flash method is {method} "
                         f"(an emulated board opens its own link); give --method "
                         f"{' / '.join(real) or '<tool>'} to flash a real board, or leave out --method to use "
                         f"a board already running at --port")
    return method


def attach(port: str, board: Board | str) -> SerialSession:
    """A board that already runs its firmware, reached at ``port`` (a serial port or a
    pyserial URL such as ``socket://127.0.0.1:PORT``): nothing is flashed; the link checks
    the firmware hash when it connects. An emulated board (kept by ``flash --listen``) runs
    with its board's -icount shift, which converts its SysTick counts to instructions."""
    from .ports import resolve_port

    board = load_board(board)
    session = SerialSession(resolve_port(port, board), board)
    if board.emulator is not None:
        session.icount_shift = board.emulator.icount_shift
    return session


def open_session(target: str | Path, board: Board | str, method: str | None = None,
                 **options) -> Session:
    """Flash ``target`` (project dir or ELF) onto ``board`` with ``method`` (default: the
    board's first flash method) and return the running session. With ``port=`` and no
    ``method``, nothing is flashed: the board is already running at that port (``attach``)."""
    if method is None and options.get("port"):
        return attach(options["port"], board)
    board = load_board(board)
    method = check_method(board, method, options.get("port"))
    return get_backend(method, board).flash(resolve_elf(target), board, **options)


__all__ = ["BACKENDS", "attach", "check_method", "known_methods", "FlashBackend", "FlashError", "QemuBackend", "QemuSession", "SerialSession",
           "Session", "SimavrBackend", "SimavrSession", "ToolBackend", "get_backend", "open_session",
           "qemu_argv", "resolve_elf", "simavr_argv"]
