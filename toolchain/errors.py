"""Exit codes by failure kind, so scripts can tell a wrong output from a broken link.

``EXIT_CODES`` is the one table from exception class to exit code. It names classes by
``module.qualname`` so this module imports nothing heavy; :func:`exit_code_for` walks an
exception's MRO and takes the first class listed, so a subclass inherits its parent's code
unless it has a row of its own. ``tests/test_errors.py`` checks that every exception class
mcuforge defines gets the code its kind of failure documents.
"""
from __future__ import annotations

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
    "mcuforge.results.store.ResultsError": EXIT_USAGE,
    "mcuforge.codegen.generate.OutputDirError": EXIT_USAGE,
    "mcuforge.learning.checkpoint.CheckpointError": EXIT_USAGE,
    "mcuforge.learning.session.LearningSessionError": EXIT_USAGE,
    "mcuforge.resources.ResourceError": EXIT_USAGE,
    # 3: the model is not supported or does not fit the board
    "mcuforge.model.errors.ModelError": EXIT_MODEL,
    "mcuforge.plan.budget.BudgetError": EXIT_MODEL,
    # 4: the firmware did not build
    "mcuforge.build.make.BuildError": EXIT_BUILD,
    "mcuforge.build.project.ProjectError": EXIT_BUILD,
    # 5: flashing or the serial link failed
    "mcuforge.flash.base.FlashError": EXIT_BOARD,
    "mcuforge.link.client.LinkError": EXIT_BOARD,
    "mcuforge.link.protocol.ProtocolError": EXIT_BOARD,  # bytes from the device, not the user's input
    "mcuforge.learning.session.BoardLost": EXIT_BOARD,
    "serial.serialutil.SerialException": EXIT_BOARD,
    # builtins last in any MRO: a missing or unreadable file, a bad value from the user
    "builtins.FileNotFoundError": EXIT_USAGE,
    "builtins.NotADirectoryError": EXIT_USAGE,
    "builtins.IsADirectoryError": EXIT_USAGE,
    "builtins.PermissionError": EXIT_USAGE,
    "builtins.OSError": EXIT_USAGE,  # e.g. writing into a read-only folder
    "builtins.ValueError": EXIT_USAGE,
}


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code of an exception; None for a bug (shown with its traceback)."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    for cls in type(exc).__mro__:
        code = EXIT_CODES.get(_name(cls))
        if code is not None:
            return code
    return None
