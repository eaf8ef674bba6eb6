"""The ``mcuforge`` command line: one verb per step of model -> firmware -> board -> results."""
from __future__ import annotations

import argparse
import contextlib
import importlib
import sys

from . import __version__
from .commands import COMMANDS
from .errors import EXIT_INTERRUPTED, EXIT_USAGE, exit_code_for
from .native_log import quiet_tensorflow

EPILOG = """exit codes: 0 ok, 1 outputs differ / check failed, 2 bad usage, 3 model not supported or too big
for the board, 4 build failed, 5 flash or serial link failed, 130 interrupted"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcuforge",
        description="Turn TinyML models into firmware, run it on a (emulated) board, and measure it over serial.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mcuforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    quiet_tensorflow()
    try:
        from .commands._common import check_outputs

        check_outputs(args)
        if getattr(args, "json", None) == "-":
            # JSON owns stdout; the human-readable output moves to stderr.
            with contextlib.redirect_stdout(sys.stderr):
                return int(args.func(args) or 0)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted (what was measured is in the results database)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message and a meaningful exit code
        code = exit_code_for(exc)
        if code is None or getattr(args, "debug", False):
            raise
        print(f"mcuforge {args.command}: error: {exc}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
