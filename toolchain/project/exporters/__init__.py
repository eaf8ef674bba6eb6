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


def refuse_other_format(project_dir, handled: tuple[str, ...], cannot: str, then: str = "") -> None:
    """A UsageError if ``project_dir`` was generated with a format outside ``handled`` (a folder
    without a manifest counts as ``make``): "... --format F, which CANNOT: build it with its own
    tool[THEN], or generate it again with --format make". Written once for build and flash."""
    from pathlib import Path

    from ..manifest import find_manifest

    fmt = (find_manifest(Path(project_dir)) or {}).get("format", DEFAULT_FORMAT)
    if fmt not in handled:
        raise UsageError(f"{project_dir} was generated with --format {fmt}, which {cannot}: build it with "
                         f"{exporter(fmt).BUILD_COMMAND.format(path=project_dir)}{then}, "
                         f"or generate it again with --format {DEFAULT_FORMAT}")
