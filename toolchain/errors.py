"""Exit codes by failure kind, so scripts can tell a wrong output from a broken link."""
from __future__ import annotations

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_MODEL, EXIT_BUILD, EXIT_BOARD = 0, 1, 2, 3, 4, 5


class McuforgeError(Exception):
    exit_code = EXIT_CHECK_FAILED


class UsageError(McuforgeError):
    exit_code = EXIT_USAGE


def exit_code_for(exc: BaseException) -> int | None:
    """Map an exception to an exit code; None for a bug (shown with its traceback)."""
    if isinstance(exc, McuforgeError):
        return exc.exit_code
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"ModelError", "UnsupportedOpError", "BudgetError"}:
        return EXIT_MODEL
    if names & {"BuildError"}:
        return EXIT_BUILD
    if names & {"LinkError", "LinkTimeout", "FlashError", "SessionError", "SerialException"}:
        return EXIT_BOARD
    if isinstance(exc, (FileNotFoundError, ValueError)):
        return EXIT_USAGE
    return None
