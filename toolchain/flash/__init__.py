"""Put firmware on a board: ``open_session(project_or_elf, board)`` -> a running Session.

Backends: ``qemu`` (emulated boards; the default where the board lists it first) and the
real-board tools ``openocd``, ``pyocd``, ``st-flash``, ``stm32flash``."""
from __future__ import annotations

from pathlib import Path

from ..boards import Board, load_board
from .base import FlashBackend, FlashError, Session, resolve_elf
from .qemu import QemuBackend, QemuSession, qemu_argv
from .tools import SerialSession, ToolBackend

BACKENDS: dict[str, FlashBackend] = {
    "qemu": QemuBackend(),
    **{name: ToolBackend(name) for name in ("openocd", "pyocd", "st-flash", "stm32flash")},
}


def get_backend(method: str) -> FlashBackend:
    try:
        return BACKENDS[method]
    except KeyError:
        raise FlashError(f"unknown flash method '{method}'; known: {', '.join(BACKENDS)}") from None


def open_session(target: str | Path, board: Board | str, method: str | None = None,
                 **options) -> Session:
    """Flash ``target`` (project dir or ELF) onto ``board`` with ``method`` (default: the
    board's first flash method) and return the running session."""
    board = load_board(board)
    method = method or board.default_flash_method
    if method not in board.flash_methods:
        raise FlashError(f"board '{board.name}' does not support flash method '{method}'; "
                         f"its methods: {', '.join(board.flash_methods)}")
    return get_backend(method).flash(resolve_elf(target), board, **options)


__all__ = ["BACKENDS", "FlashBackend", "FlashError", "QemuBackend", "QemuSession", "SerialSession",
           "Session", "ToolBackend", "get_backend", "open_session", "qemu_argv", "resolve_elf"]
