"""The boards of a fleet: N emulated instances of one board, or real boards at serial ports.

An emulated instance is its own QEMU/simavr process started from the same ELF; a real board is
reached at its port (flashed first with ``method``, or already running the firmware)."""
from __future__ import annotations

from dataclasses import dataclass

from ..boards import load_board
from ..errors import UsageError


@dataclass(frozen=True)
class FleetBoard:
    board: str  # the board's name (boards/<name>/board.json)
    index: int  # position in the fleet
    port: str | None = None  # a real board's serial port or pyserial URL; None: an emulated instance

    @property
    def instance(self) -> str:
        """The name this board's results carry: netduinoplus2#0, or uno@/dev/ttyACM0."""
        return f"{self.board}#{self.index}" if self.port is None else f"{self.board}@{self.port}"


def emulated_boards(board: str, count: int) -> list[FleetBoard]:
    """``count`` emulated instances of ``board``, refused if the board has no emulator."""
    spec = load_board(board)
    if count < 1:
        raise UsageError(f"--boards {count}: a fleet needs at least one board")
    if spec.emulator is None:
        raise UsageError(f"board '{board}' has no emulator: give its serial ports with --ports instead of --boards")
    return [FleetBoard(spec.name, i) for i in range(count)]


def real_boards(ports: str, default_board: str) -> list[FleetBoard]:
    """Boards from ``--ports``: comma-separated ``PORT`` (of ``default_board``) or ``BOARD=PORT``."""
    out, seen = [], set()
    for i, entry in enumerate(p.strip() for p in ports.split(",")):
        if not entry:
            raise UsageError(f"--ports {ports!r}: an empty entry (give PORT or BOARD=PORT, comma-separated)")
        board, _, port = entry.rpartition("=") if "=" in entry else (default_board, "", entry)
        if not port:
            raise UsageError(f"--ports entry {entry!r} names no port")
        if port in seen:
            raise UsageError(f"--ports names {port} twice: each board is driven by one link")
        seen.add(port)
        out.append(FleetBoard(load_board(board).name, i, port))
    return out


def check_fleet(boards: list[FleetBoard], method: str | None) -> None:
    """Every board's flash method checked before anything is built (as ``check_target`` does for one)."""
    from ..flash import check_method

    for b in boards:
        check_method(load_board(b.board), method, b.port)
