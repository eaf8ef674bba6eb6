"""Exporters: each wraps the runtime library (``project.layout``) for one build system. An
exporter is a module with ``NAME``, ``BUILD_COMMAND`` (how the user builds it, ``{path}`` the
project folder), and three functions: ``check(board)`` refuses a board the format cannot target
before anything is written; ``export(project_dir, spec) -> Library`` lays out the library where
the format wants it (``layout.write_library``, or only the model and kernels) and writes its own
files (entry point, build files); ``finish(project_dir, library)`` runs once the build id is
written (e.g. to pack the project)."""
from __future__ import annotations

from types import ModuleType

from ...errors import UsageError
from . import arduino, make, micropython, platformio

EXPORTERS: dict[str, ModuleType] = {m.NAME: m for m in (make, platformio, arduino, micropython)}
DEFAULT_FORMAT = make.NAME


def exporter(fmt: str) -> ModuleType:
    """The exporter of ``--format fmt``."""
    try:
        return EXPORTERS[fmt]
    except KeyError:
        raise UsageError(f"unknown project format '{fmt}'; formats: {', '.join(EXPORTERS)}") from None
