"""``mcuforge boards``: the boards mcuforge can build for, and how each is flashed."""
from __future__ import annotations

from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("boards", help="list boards: CPU, clock, flash/RAM, flash methods", description=_common.doc(__doc__))
    _common.add_json(p, "the board list")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..boards import list_boards

    boards = list_boards()
    rows = []
    for b in boards:
        unused = ", ".join(f"{name} {_common.kib(r['bytes'])}" for name, r in b.unused_memory.items())
        rows.append([b.name, b.mcu, b.core + ("F" if getattr(b, "fpu", False) else ""), f"{b.clock_hz / 1e6:g} MHz",
                     _common.kib(b.flash_bytes), _common.kib(b.ram_bytes), unused or "-", f"{b.link_max_payload} B",
                     f"~{b.runtime_ram_bytes:,} B + {b.stack_bytes:,} B", _emulated_by(b), ", ".join(b.flash_methods)])
    _common.table(rows, ["board", "mcu", "cpu", "clock", "flash", "RAM", "not used", "link payload", "runtime RAM + stack",
                         "emulated by", "flash methods (first = default)"])
    _common.write_json(args.json, [dict(name=b.name, mcu=b.mcu, core=b.core, fpu=getattr(b, "fpu", False),
                                        clock_hz=b.clock_hz, flash_bytes=b.flash_bytes, ram_bytes=b.ram_bytes,
                                        unused_memory={k: r["bytes"] for k, r in b.unused_memory.items()},
                                        link_max_payload=b.link_max_payload, runtime_ram_bytes=b.runtime_ram_bytes,
                                        runtime_flash_bytes=b.runtime_flash_bytes, stack_bytes=b.stack_bytes,
                                        emulator=f"{b.emulator.kind} {b.emulator.machine}" if b.emulator else None,
                                        flash_methods=list(b.flash_methods)) for b in boards])
    return 0


def _emulated_by(board) -> str:
    """The emulator and machine, e.g. ``qemu netduinoplus2``; ``-`` for a board nothing emulates."""
    return f"{board.emulator.kind} {board.emulator.machine}" if board.emulator else "-"
