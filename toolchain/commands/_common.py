"""Options and output helpers shared by the CLI verbs."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from ..errors import UsageError

from ..boards import DEFAULT_BOARD  # noqa: F401  (the CLI default, re-exported to the verbs)


def add_board(p, default: str | None = DEFAULT_BOARD) -> None:
    p.add_argument("-b", "--board", default=default,
                   help=f"board name (see 'mcuforge boards'; default {default})")


def add_db(p) -> None:
    p.add_argument("--db", default=None,
                   help="results database (SQLite); default $MCUFORGE_DB or ./mcuforge.db")


def add_json(p, what: str = "results") -> None:
    p.add_argument("--json", metavar="OUT", default=None, help=f"write {what} as JSON to OUT ('-' for stdout)")


def add_workdir(p) -> None:
    p.add_argument("--workdir", default=None,
                   help="where to generate and build the firmware (default: a temporary folder)")
    add_flash_target(p)


def add_flash_target(p) -> None:
    p.add_argument("--method", default=None, help="flash method (default: the board's emulator if it has one)")
    p.add_argument("--port", default=None,
                   help="serial port or pyserial URL of a real board (e.g. /dev/ttyACM0, COM3, socket://host:port; "
                        "'auto': the one ST-LINK or Arduino attached, see 'mcuforge ports'); "
                        "without --method nothing is flashed: the board already runs the firmware there "
                        "(a real one, or one kept by 'mcuforge flash DIR --listen', which prints its URL)")


def check_target(args) -> None:
    """Board, flash method and port checked before anything is built or any progress bar shows."""
    from ..boards import load_board
    from ..flash import check_method

    check_method(load_board(args.board), getattr(args, "method", None), getattr(args, "port", None))


def progress() -> bool:
    """Progress bars only on a terminal: in a log or CI they would be thousands of lines."""
    return sys.stderr.isatty()


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {n}")
        return n

    return parse


positive_int = _int_at_least(1)  # argparse types: counts, and seeds or counts that may be 0
natural_int = _int_at_least(0)


def check_outputs(args) -> None:
    """Output files (--json, --save-outputs) checked before the work, not after it."""
    for opt in ("json", "save_outputs"):
        dest = getattr(args, opt, None)
        if not dest or dest == "-":
            continue
        p = Path(dest)
        if p.is_dir():
            raise UsageError(f"--{opt.replace('_', '-')} {dest} is a folder; give a file name")
        if not p.parent.is_dir():
            raise UsageError(f"--{opt.replace('_', '-')} {dest}: folder {p.parent} does not exist")


def db_path(args) -> Path:
    return Path(args.db or os.environ.get("MCUFORGE_DB") or "mcuforge.db")


def open_store(args, readonly: bool = False):
    """The results database of ``--db``; ``readonly`` for commands that only read it (a missing
    file is then an error, and nothing is created)."""
    from ..results.store import ResultsStore

    return ResultsStore(db_path(args), readonly=readonly)


def to_jsonable(obj):
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(dest: str | None, data: dict) -> None:
    if not dest:
        return
    text = json.dumps(to_jsonable(data), indent=2)
    if dest == "-":
        print(text, file=sys.__stdout__, flush=True)
    else:
        Path(dest).write_text(text + "\n")


def table(rows: list[list], header: list[str], out=None) -> None:
    """A plain aligned text table (numbers right-aligned)."""
    out = out or sys.stdout
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [all(_is_num(r[i]) for r in rows) if rows else False for i in range(len(header))]
    for n, r in enumerate(cells):
        line = "  ".join(c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
        print(line.rstrip(), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)


def _is_num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:,.3f}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def doc(text: str | None) -> str:
    """A module docstring as --help text (no reST backquotes)."""
    return (text or "").replace("``", "'").strip()
