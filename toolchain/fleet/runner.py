"""Run one job on a fleet of boards in parallel: a thread per board, a shared work queue.

Each board's thread flashes (or starts) its board, takes items one at a time and writes each
result into its own run of the results database (``fleet_id`` = the fleet run, ``instance`` =
which board). A board that dies or hangs (its link fails or times out, its emulator exits) gives
its item back to the queue, is restarted up to ``restarts`` times and then dropped; an item is
recorded only once its board answered, so nothing is lost or counted twice."""
from __future__ import annotations

import contextlib
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..flash import FlashError
from ..link import LinkError
from ..results.store import CYCLES_KINDS
from .boards import FleetBoard
from .queue import Outcome, WorkQueue
from .summary import fleet_summary


class FleetError(RuntimeError):
    """No board of the fleet is left to run the remaining work (every one was dropped)."""


def _board_errors() -> tuple[type[BaseException], ...]:
    import serial

    return (LinkError, FlashError, OSError, serial.SerialException)


@dataclass
class BoardState:
    """One board's part of a fleet run, as its thread leaves it."""
    board: FleetBoard
    run_id: int | None = None
    results: list[dict] = field(default_factory=list)
    restarts: int = 0
    dropped: bool = False
    errors: list[str] = field(default_factory=list)
    cycles_kind: str | None = None
    target: object = field(default=None, repr=False)


@dataclass
class FleetResult:
    kind: str
    model_name: str | None
    boards: list[BoardState]
    outcome: Outcome
    summary: dict
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.outcome.failed and not self.outcome.unfinished and not self.summary.get("mismatches")


class _Board(threading.Thread):
    def __init__(self, fleet: "_Fleet", state: BoardState):
        super().__init__(name=f"fleet-{state.board.instance}", daemon=True)
        self.fleet, self.state = fleet, state
        self.error: BaseException | None = None
        self._firmware = None

    def run(self) -> None:
        try:
            self._serve()
        except BaseException as e:  # noqa: BLE001 - a bug or a database failure: the fleet stops
            self.error = e
            self.fleet.queue.stop()
        finally:
            self._close()

    def _serve(self) -> None:
        f, s = self.fleet, self.state
        inst = s.board.instance
        while (item := f.queue.take(inst)) is not None:
            try:
                target = self._target_for(item)
                result = f.job.run_item(target, item)
            except _board_errors() as e:
                f.queue.give_back(item, inst, str(e).splitlines()[0] if str(e) else type(e).__name__)
                s.errors.append(f"{type(e).__name__}: {e}".splitlines()[0])
                self._close()
                if f.stopping:
                    return
                if s.restarts >= f.restarts:
                    s.dropped = True
                    return
                s.restarts += 1  # the next item starts the board again
                continue
            f.queue.done(item, inst, result)
            s.results.append(result)
            if s.run_id is not None:
                f.job.record(f.store_run(s), item, result)
            f.progress_update(1)
            if f.on_done is not None:
                f.on_done(s.board, item, target)

    def _target_for(self, item):
        from ..target import flash_target

        f, s = self.fleet, self.state
        firmware = f.job.firmware_for(item, s.board.board)
        if s.target is not None and self._firmware is firmware:
            return s.target
        self._close()
        s.target = flash_target(firmware.project, firmware.build, method=f.method, port=s.board.port,
                                flash_options=f.flash_options)
        self._firmware = firmware
        if f.timeout is not None:  # a hung board is noticed within this, not the link's 120 s
            s.target.link.timeout = min(s.target.link.timeout, f.timeout)
            s.target.link.invoke_timeout = f.timeout
        s.cycles_kind = s.cycles_kind or s.target.cycles_kind
        return s.target

    def _close(self) -> None:
        target, self.state.target = self.state.target, None
        if target is not None:
            with contextlib.suppress(Exception):
                target.close()


class _Fleet:
    def __init__(self, job, queue, store, method, restarts, timeout, on_done, bar, flash_options=None):
        self.job, self.queue, self.store, self.method = job, queue, store, method
        self.flash_options = flash_options
        self.restarts, self.timeout, self.on_done, self.bar = restarts, timeout, on_done, bar
        self.stopping = False
        self._lock = threading.Lock()
        self._runs: dict[int, object] = {}

    def store_run(self, state: BoardState):
        from ..results.store import RunHandle

        return self._runs.setdefault(state.run_id, RunHandle(self.store, state.run_id))

    def progress_update(self, n: int) -> None:
        with self._lock:
            self.bar.update(n)


def run_fleet(job, boards: list[FleetBoard], *, store=None, workdir=None, method: str | None = None,
              restarts: int = 1, max_attempts: int = 3, timeout: float | None = None, progress: bool = False,
              on_done=None, step=lambda msg: None, flash_options: dict | None = None) -> FleetResult:
    """Run ``job`` (``mcuforge.fleet.jobs``) on ``boards`` in parallel and return what each measured.

    ``restarts``: how often a failing board is started again before it is dropped; ``max_attempts``:
    how many failures an item may cause before it is set aside as failed; ``timeout``: seconds a
    board may take to answer (a hung board fails its item after it). ``on_done(board, item,
    target)`` is called in the board's thread after each item (tests kill a board from it).
    ``flash_options`` go to each board's flash backend (e.g. ``icount=False`` for QEMU).
    Raises FleetError if work is left and every board was dropped (what was measured is stored)."""
    from tqdm import tqdm

    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="mcuforge-fleet-")
        workdir = tmp.name
    try:
        job.check(boards, method)
        job.prepare([b.board for b in boards], Path(workdir), step)
        queue = WorkQueue(job.items, max_attempts=max_attempts)
        states = [BoardState(b) for b in boards]
        fleet_id = None
        if store is not None:
            names = sorted({b.board for b in boards})
            fleet_id = store.start_run("fleet", model_name=job.model_name, board=",".join(names),
                                       summary=dict(job=job.kind, boards=[b.instance for b in boards],
                                                    items=len(job.items)))
            for s in states:
                s.run_id = store.start_run(job.kind, board=s.board.board, fleet_id=fleet_id,
                                           instance=s.board.instance, **job.identity(s.board.board))
        bar = tqdm(total=len(job.items), desc=f"fleet {job.kind}", unit="item", disable=not progress,
                   file=sys.stderr)
        fleet = _Fleet(job, queue, store, method, restarts, timeout, on_done, bar, flash_options)
        threads = [_Board(fleet, s) for s in states]
        step(f"{len(threads)} boards")
        status = "ok"
        try:
            with contextlib.closing(bar):
                for t in threads:
                    t.start()
                for t in threads:
                    while t.is_alive():
                        t.join(0.2)
        except BaseException:
            status = "interrupted"
            fleet.stopping = True
            queue.stop()
            for s in states:  # ends a board's wait at once: its link fails, its thread leaves
                if s.target is not None:
                    with contextlib.suppress(Exception):
                        s.target.session.close()
            for t in threads:
                t.join(10)
            raise
        finally:
            outcome = queue.close()
            errors = [t.error for t in threads if t.error is not None]
            _finish(store, job, states, fleet_id, outcome, "failed" if errors and status == "ok" else status)
        if errors:
            raise errors[0]
        summary = fleet_summary(job, states, outcome)
        result = FleetResult(job.kind, job.model_name, states, outcome, summary, fleet_id)
        if store is not None:
            if summary["cycles_kind"] in CYCLES_KINDS:  # one kind across the fleet
                store.update_run(fleet_id, cycles_kind=summary["cycles_kind"])
            store.add_metrics(fleet_id, {k: v for k, v in summary.items() if _is_number(v)})
            store.finish_run(fleet_id, status="ok" if result.ok else "failed", summary=summary)
        if outcome.unfinished:
            raise FleetError(f"every board was dropped with {len(outcome.unfinished)} of {len(job.items)} items "
                             f"left undone (their last errors: {'; '.join(s.errors[-1] for s in states if s.errors)})"
                             + (f"; what was measured is in the results database (fleet run {fleet_id})"
                                if store is not None else ""))
        return result
    finally:
        if tmp is not None:
            tmp.cleanup()


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finish(store, job, states: list[BoardState], fleet_id, outcome: Outcome, status: str) -> None:
    """End each board's run: its summary numbers, restarts, and why it was dropped."""
    if store is None:
        return
    from .summary import board_summary

    for s in states:
        summary = board_summary(job, s)
        if s.results:
            store.add_layers(s.run_id, job.layer_rows(s.results, s.board.board))
        store.add_metrics(s.run_id, {k: v for k, v in summary.items() if _is_number(v)})
        if s.cycles_kind is not None:
            store.update_run(s.run_id, cycles_kind=s.cycles_kind)
        board_status = status if status != "ok" else ("failed" if s.dropped else "ok")
        store.finish_run(s.run_id, status=board_status, summary=summary)
    if status != "ok":
        store.finish_run(fleet_id, status=status, summary=dict(done=len(outcome.done), failed=len(outcome.failed),
                                                               unfinished=len(outcome.unfinished)))
