"""Run a project's Makefile and report what the firmware takes from flash and RAM."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

ARENA_SYMBOL = "mf_arena"
ARENA_GUARD_BYTES = 16  # on each side of the arena, inside the mf_arena symbol (MF_ARENA_DEFINE)
STACK_SECTION = ".stack"


class BuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class ElfSizes:
    text: int     # code (+ vector table)
    rodata: int   # constants: weights, tables
    data: int     # initialised RAM (its image also sits in flash)
    bss: int      # zeroed RAM, the arena included
    stack: int    # reserved stack block
    arena: int    # bytes of the mf_arena symbol without its guard bytes (0 if absent)

    @property
    def flash_bytes(self) -> int:
        return self.text + self.rodata + self.data

    @property
    def ram_bytes(self) -> int:
        return self.data + self.bss + self.stack

    @property
    def runtime_ram_bytes(self) -> int:
        """Static RAM besides the arena and the stack: the runtime's own (receive ring, link
        parser, handler table, counters) and the model's tables."""
        return self.data + self.bss - self.arena


@dataclass(frozen=True)
class BuildResult:
    project_dir: Path
    elf: Path
    map_file: Path
    sizes: ElfSizes
    log: str

    # Flattened for reports.
    @property
    def text(self) -> int:
        return self.sizes.text

    @property
    def rodata(self) -> int:
        return self.sizes.rodata

    @property
    def data(self) -> int:
        return self.sizes.data

    @property
    def bss(self) -> int:
        return self.sizes.bss

    @property
    def flash_bytes(self) -> int:
        return self.sizes.flash_bytes

    @property
    def ram_bytes(self) -> int:
        return self.sizes.ram_bytes

    @property
    def arena(self) -> int:
        return self.sizes.arena

    @property
    def stack(self) -> int:
        return self.sizes.stack


def elf_sizes(elf_path: str | Path, arena_symbol: str = ARENA_SYMBOL) -> ElfSizes:
    """Sizes of the allocated sections of an ELF, by kind, and of the arena symbol."""
    text = rodata = data = bss = stack = arena = 0
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        for sec in elf.iter_sections():
            flags = sec["sh_flags"]
            size = sec["sh_size"]
            if not flags & SH_FLAGS.SHF_ALLOC or size == 0:
                continue
            if sec.name == STACK_SECTION:
                stack += size
            elif flags & SH_FLAGS.SHF_EXECINSTR:
                text += size
            elif not flags & SH_FLAGS.SHF_WRITE:
                rodata += size
            elif sec["sh_type"] == "SHT_NOBITS":
                bss += size
            else:
                data += size
        symtab = elf.get_section_by_name(".symtab")
        if isinstance(symtab, SymbolTableSection):
            for sym in symtab.get_symbol_by_name(arena_symbol) or []:
                arena = max(arena, sym["st_size"] - 2 * ARENA_GUARD_BYTES)
    return ElfSizes(text=text, rodata=rodata, data=data, bss=bss, stack=stack, arena=arena)


def build(project_dir: str | Path, jobs: int | None = None, make: str = "make",
          timeout: float = 900, extra_args: list[str] | None = None) -> BuildResult:
    """``make`` in ``project_dir``; raises BuildError with the compiler output on failure, UsageError
    for a project of another format (its own tool builds it)."""
    project = Path(project_dir)
    if not (project / "Makefile").is_file():
        from ..project.exporters import refuse_other_format

        # a format its own tool builds: a usage error, nothing has run
        refuse_other_format(project, ("make",), "'mcuforge build' does not compile")
        raise BuildError(f"no Makefile in {project}: write the project first")
    if shutil.which(make) is None:
        raise BuildError(f"'{make}' not found on PATH (install make)")
    argv = [make, "-C", str(project), f"-j{jobs or min(2, os.cpu_count() or 1)}",
            *(extra_args or [])]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise BuildError(f"build of {project} timed out after {timeout:.0f} s") from e
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise BuildError(f"build of {project} failed (make exit {proc.returncode}):\n{_tail(log)}")
    elf = project / "build" / "firmware.elf"
    if not elf.is_file():
        raise BuildError(f"make succeeded but {elf} is missing:\n{_tail(log)}")
    return BuildResult(project_dir=project, elf=elf, map_file=project / "build" / "firmware.map",
                       sizes=elf_sizes(elf), log=log)


def _tail(log: str, lines: int = 60) -> str:
    rows = log.strip().splitlines()
    return "\n".join(rows[-lines:])
