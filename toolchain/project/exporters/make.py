"""The Makefile project (``--format make``, the default): the runtime library at the project's
root, ``main.c`` as its entry point and a plain ``Makefile`` (``templates/project/``) that builds
``build/firmware.elf`` (+ .bin, .hex, .map) with the board's Debian toolchain."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

from ... import resources
from ...boards import Board, load_board
from ...codegen.platform import has_linker_script
from ..layout import Library, ProjectError, Spec, project_include_dirs, write_library

BUILD_COMMAND = "mcuforge build {path}"  # how the user builds the project next
NAME = "make"
ENTRY = "main.c"   # templates/project/main.c
MAKEFILE = "Makefile"


def check(board: Board) -> None:
    """Every board builds with make."""


def export(project_dir: Path, spec: Spec) -> Library:
    """The runtime library and the model at the project's root, main.c and the Makefile."""
    library = write_library(project_dir, spec)
    write_makefile(project_dir, spec.board, library.sources, library.include_dirs)
    return library


def finish(project_dir: Path, library: Library) -> None:
    """Nothing to add once the build id is written."""


def render_makefile(board: Board | str, sources: list[str], include_dirs: list[str],
                    cflags: Iterable[str] = ()) -> str:
    """The Makefile text; it links with the generated ``linker.ld`` when the board's arch has one."""
    board = load_board(board)
    for s in sources:
        if " " in s or not s.endswith(".c"):
            raise ProjectError(f"bad source path for the Makefile: '{s}' (a .c path without spaces)")
    return resources.render_template(
        "project/Makefile.j2", board=board.to_dict(), sources=sources, include_dirs=include_dirs,
        cflags=list(cflags), linker_script="linker.ld" if has_linker_script(board) else None)


def write_makefile(project_dir: str | Path, board: Board | str, sources: list[str],
                   include_dirs: list[str] | None = None, cflags: Iterable[str] = ()) -> Path:
    """``main.c`` and the ``Makefile`` that builds ``sources`` + ``main.c``."""
    board = load_board(board)
    project = Path(project_dir)
    shutil.copy2(resources.templates_dir() / "project" / ENTRY, project / ENTRY)
    path = project / MAKEFILE
    path.write_text(render_makefile(board, [*sources, ENTRY], include_dirs or project_include_dirs(board),
                                    cflags))
    return path
