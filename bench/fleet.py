"""A fleet of emulated boards against one board: the same validation (bit-exact against TFLM)
spread over 1, 2 and 4 QEMU boards, measured in the same run.

    python -m bench.fleet [--model ds_cnn_kws] [--samples 16] [--boards 1,2,4]

Prints per fleet size the wall time (host time on this machine, not a board timing), samples per
second and the speed-up against one board, and the spread of the boards' median emulated
instruction counts. Every run goes to the results database as a fleet run. On a 2-core host the
QEMU processes share the cores, so the speed-up is bounded by the cores, not by the fleet size.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the model zoo lives with the tests

HEADERS = ["boards", "samples", "wall s", "samples/s", "speed-up", "bit-exact", "instr min", "instr max", "spread"]


def measure(model: str = "ds_cnn_kws", samples: int = 16, sizes=(1, 2, 4), board: str = "netduinoplus2",
            store=None) -> list[list]:
    from mcuforge.build import build
    from mcuforge.fleet import ValidateJob, emulated_boards, run_fleet
    from mcuforge.project import generate
    from models.zoo import ZOO

    data = ZOO[model]()
    rows, base = [], None
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        project = generate(data, board, Path(tmp) / "fw")  # built once: the fleets time only the boards
        build(project.path)
        for n in sizes:
            t0 = time.perf_counter()
            r = run_fleet(ValidateJob(data, samples=samples, project=project.path), emulated_boards(board, n),
                          store=store)
            wall = time.perf_counter() - t0
            s = r.summary
            rate = samples / wall
            base = base or rate
            rows.append([n, samples, wall, rate, f"{rate / base:.2f}x",
                         f"{s['boards_bit_exact']}/{n}" if r.ok else f"{s['mismatches']} DIFFER",
                         s.get("cycles_board_min"), s.get("cycles_board_max"), f"{100 * (s.get('cycles_spread') or 0):.3f}%"])
    return rows


def print_report(model: str = "ds_cnn_kws", samples: int = 16, sizes=(1, 2, 4), store=None) -> None:
    from mcuforge.commands._common import table

    print(f"\nfleet validate of {model}, {samples} samples spread over N emulated boards "
          f"(wall time on this {os.cpu_count()}-core host; counts are emulated instructions, QEMU -icount):")
    table(measure(model, samples, sizes, store=store), HEADERS)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="ds_cnn_kws")
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--boards", default="1,2,4", help="fleet sizes, comma-separated (default 1,2,4)")
    p.add_argument("--db", default=None, help="results database (default: none)")
    args = p.parse_args(argv)
    from mcuforge.results.store import ResultsStore

    store = ResultsStore(args.db) if args.db else None
    print_report(args.model, args.samples, tuple(int(n) for n in args.boards.split(",")), store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
