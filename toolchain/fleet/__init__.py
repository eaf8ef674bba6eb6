"""A fleet of boards: the same job on N emulated boards (QEMU/simavr instances) or on real boards
at serial ports, in parallel, a work queue spreading samples, profiled runs or models over them.

    from mcuforge.fleet import ValidateJob, emulated_boards, run_fleet

    result = run_fleet(ValidateJob("kws.tflite", samples=40), emulated_boards("netduinoplus2", 4), store=store)
    result.summary          # per board and across the fleet: counts' spread, bit-exactness, failures

``boards`` names them, ``queue`` hands out the work (once each), ``jobs`` says what a board does
with an item, ``runner`` drives the boards (restarting or dropping one that dies or hangs) and
``summary`` adds up what they measured. ``mcuforge fleet`` prints what ``run_fleet`` returns."""
from __future__ import annotations

from .boards import FleetBoard, check_fleet, emulated_boards, real_boards
from .jobs import BenchJob, EmbedJob, ProfileJob, ValidateJob
from .queue import WorkQueue
from .runner import FleetError, FleetResult, run_fleet

__all__ = ["BenchJob", "EmbedJob", "FleetBoard", "FleetError", "FleetResult", "ProfileJob", "ValidateJob", "WorkQueue",
           "check_fleet", "emulated_boards", "real_boards", "run_fleet"]
