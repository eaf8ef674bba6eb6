"""Is a firmware image valid for the part before a flashing tool writes it: what the ELF loads
lies in the board's flash (its origin, ``memory.flash.origin``, up to ``flash_bytes``), and a
raw image starts at that origin (``st-flash write BIN 0x08000000`` puts byte 0 there)."""
from __future__ import annotations

from pathlib import Path

from ..boards import Board
from .base import FlashError

AVR_FLASH_SPACE_END = 0x800000  # avr-gcc's ELF puts RAM (.data VMA), EEPROM, fuses above this


def flash_origin(board: Board) -> int:
    return int(str(board.memory.get("flash", {}).get("origin", "0")), 0)


def load_span(elf: str | Path) -> tuple[int, int]:
    """Lowest and one past the highest flash address the ELF's loaded bytes go to (their
    load addresses: .data is copied from flash)."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        with open(elf, "rb") as f:
            image = ELFFile(f)
            avr = image["e_machine"] == "EM_AVR"
            spans = [(s["p_paddr"], s["p_paddr"] + s["p_filesz"]) for s in image.iter_segments()
                     if s["p_type"] == "PT_LOAD" and s["p_filesz"] > 0
                     and not (avr and s["p_paddr"] >= AVR_FLASH_SPACE_END)]
    except (ELFError, OSError) as e:
        raise FlashError(f"{elf}: not a readable ELF: {e}") from None
    if not spans:
        raise FlashError(f"{elf}: loads nothing into flash")
    return min(lo for lo, _ in spans), max(hi for _, hi in spans)


def check_image(elf: str | Path, board: Board) -> tuple[int, int]:
    """The ELF's flash span, refused unless it starts at the board's flash origin and ends
    within its flash; the raw .bin made from it then starts at the origin too."""
    lo, hi = load_span(elf)
    origin = flash_origin(board)
    end = origin + board.flash_bytes
    if lo != origin or hi > end:
        raise FlashError(f"{elf} is not an image for board '{board.name}': it loads 0x{lo:08x}..0x{hi:08x}, "
                         f"the board's flash is 0x{origin:08x}..0x{end:08x} ({board.flash_bytes:,} B): "
                         f"build the project for this board")
    return lo, hi
