"""Exit codes by failure kind, so scripts can tell a wrong output from a broken link.

``EXIT_CODES`` is the one table from exception class to exit code. It names each class by the
import path it is published under (a package's export where it has one, so moving a class
between a package's modules changes nothing) and this module imports none of them: a class
can only have been raised if its module is loaded. :func:`exit_code_for` walks an exception's
MRO and takes the first class listed, so a subclass inherits its parent's code unless it has a
row of its own. ``tests/test_errors.py`` checks that every exception class mcuforge defines
gets the code its kind of failure documents.
"""
from __future__ import annotations

import sys

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_MODEL, EXIT_BUILD, EXIT_BOARD = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class McuforgeError(Exception):
    """A check failed (exit 1)."""


class UsageError(McuforgeError):
    """Bad arguments or input files, found before anything is built (exit 2)."""


EXIT_CODES: dict[str, int] = {
    # 1: a check failed
    "mcuforge.errors.McuforgeError": EXIT_CHECK_FAILED,
    # 2: bad usage: arguments, input files, paths, the results database
    "mcuforge.errors.UsageError": EXIT_USAGE,
    "mcuforge.boards.BoardError": EXIT_USAGE,
    "mcuforge.results.ResultsError": EXIT_USAGE,
    "mcuforge.project.OutputDirError": EXIT_USAGE,
    "mcuforge.learning.CheckpointError": EXIT_USAGE,
    "mcuforge.learning.LearningSessionError": EXIT_USAGE,
    "mcuforge.resources.ResourceError": EXIT_USAGE,
    # 3: the model is not supported or does not fit the board
    "mcuforge.model.ModelError": EXIT_MODEL,
    "mcuforge.plan.budget.BudgetError": EXIT_MODEL,
    # 4: the firmware did not build
    "mcuforge.build.BuildError": EXIT_BUILD,
    "mcuforge.project.ProjectError": EXIT_BUILD,
    "mcuforge.codegen.platform.PlatformError": EXIT_BUILD,
    # 5: flashing or the serial link failed
    "mcuforge.flash.FlashError": EXIT_BOARD,
    "mcuforge.link.LinkError": EXIT_BOARD,
    "mcuforge.fleet.FleetError": EXIT_BOARD,  # every board of the fleet was dropped
    "mcuforge.link.ProtocolError": EXIT_BOARD,  # bytes from the device, not the user's input
    "mcuforge.learning.session.BoardLost": EXIT_BOARD,
    "mcuforge.federated.deploy.DeploymentError": EXIT_BOARD,  # a Flower process or run failed (its log named)
    "serial.SerialException": EXIT_BOARD,
    # builtins last in any MRO: a missing or unreadable file, a bad value from the user
    "builtins.FileNotFoundError": EXIT_USAGE,
    "builtins.NotADirectoryError": EXIT_USAGE,
    "builtins.IsADirectoryError": EXIT_USAGE,
    "builtins.PermissionError": EXIT_USAGE,
    "builtins.OSError": EXIT_USAGE,  # e.g. writing into a read-only folder
    "builtins.ValueError": EXIT_USAGE,
}


def _published(name: str) -> type | None:
    """The class a table row names, if its module is loaded (else nothing raised can be one)."""
    module, _, attr = name.rpartition(".")
    mod = sys.modules.get(module)
    return getattr(mod, attr, None) if mod is not None else None


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code of an exception; None for a bug (shown with its traceback)."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    rows = [(_published(name), code) for name, code in EXIT_CODES.items()]
    for cls in type(exc).__mro__:
        for row_cls, code in rows:
            if row_cls is cls:
                return code
    return None
