"""Exporters: each wraps the runtime library (``project.layout``) for one build system. An
exporter is a module with ``NAME``, ``LIBRARY_DIR`` (where the library goes, relative to the
project folder), ``BUILD_COMMAND`` (how the user builds it, ``{path}`` the project folder), ``check(board)``, which refuses a board the format cannot target before anything
is written, and ``export(project_dir, board, library)``, which writes its own files (entry point,
build files)."""
from __future__ import annotations

from types import ModuleType

from ...errors import UsageError
from . import make, platformio

EXPORTERS: dict[str, ModuleType] = {m.NAME: m for m in (make, platformio)}
DEFAULT_FORMAT = make.NAME


def exporter(fmt: str) -> ModuleType:
    """The exporter of ``--format fmt``."""
    try:
        return EXPORTERS[fmt]
    except KeyError:
        raise UsageError(f"unknown project format '{fmt}'; formats: {', '.join(EXPORTERS)}") from None
