"""The PlatformIO project (``--format platformio``): ``platformio.ini`` with the board's standard
platform and board id (board.json ``platformio``, e.g. ``ststm32`` + ``genericSTM32F405RG``,
``atmelavr`` + ``uno``), the runtime library and the model under ``src/mcuforge/``, the entry
point ``src/main.c`` (the Makefile project's), and ``mcuforge_link.py``, the extra script that
gives the linker the board's link flags. Bare metal: no framework; PlatformIO compiles every
source under ``src/``."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from ... import resources
from ...boards import Board
from ...codegen.platform import has_linker_script
from ...errors import UsageError
from ..layout import Library, Spec, write_library
from .make import ENTRY

BUILD_COMMAND = "pio run -d {path}"  # how the user builds the project next
NAME = "platformio"
LIBRARY_DIR = "src/mcuforge"
INI = "platformio.ini"
LINK_SCRIPT = "mcuforge_link.py"


def check(board: Board) -> None:
    if board.platformio is None:
        raise UsageError(f"board '{board.name}' has no PlatformIO board (board.json 'platformio'); "
                         "export it with --format make")


def export(project_dir: Path, spec: Spec) -> Library:
    board = spec.board
    library = write_library(project_dir / LIBRARY_DIR, spec)
    env = re.sub(r"[^A-Za-z0-9_]", "_", board.name)
    include_dirs = [f"{LIBRARY_DIR}/{d}".removesuffix("/.") for d in library.include_dirs]
    shutil.copy2(resources.templates_dir() / "project" / ENTRY, project_dir / "src" / ENTRY)
    (project_dir / INI).write_text(resources.render_template(
        "platformio/platformio.ini.j2", board=board.to_dict(), env=env, model_name=spec.model_name,
        include_dirs=include_dirs,
        linker_script=f"{LIBRARY_DIR}/linker.ld" if has_linker_script(board) else None))
    (project_dir / LINK_SCRIPT).write_text(resources.render_template(
        "platformio/mcuforge_link.py.j2", board=board.to_dict(),
        linkflags=repr([*board.cflags, *board.ldflags, "-Wl,--gc-sections"])))
    return library


def finish(project_dir: Path, library: Library) -> None:
    """Nothing to add once the build id is written."""
