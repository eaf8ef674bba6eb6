"""The SQLite results store: every measurement mcuforge takes lands here.

One row in ``runs`` per session (validate, profile, demo, bench, learn) carrying what was
measured on what: model hash and name, board, firmware hash, toolchain version, host, UTC
times, and whether cycle counts are emulated instructions or hardware cycles. Measurements
hang off the run: scalar ``metrics`` (optionally per training ``step``), per-layer
``layers``, per-input ``samples`` and binary ``artifacts`` (checkpoints).

Every write is committed at once (autocommit), so a session that dies half-way keeps what it
measured; :meth:`ResultsStore.run` marks such a run ``failed`` or ``interrupted``.
The schema is versioned: ``mcuforge.results.schema.MIGRATIONS`` is an append-only list of SQL
steps and ``meta.schema_version`` counts how many an existing file has had.
"""
from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import json
import math
import os
import platform
import socket
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .schema import MIGRATIONS, SCHEMA_VERSION

KINDS = ("validate", "profile", "demo", "bench", "learn", "adapt", "fleet", "federate")
STATUSES = ("running", "ok", "failed", "interrupted")
CYCLES_KINDS = ("emulated-instructions", "simulated-cycles", "hardware")
DEFAULT_DB_NAME = "mcuforge.db"
DB_ENV = "MCUFORGE_DB"


class ResultsError(Exception):
    """The database cannot be used (not an mcuforge database, newer schema, bad path)."""


@dataclass(frozen=True)
class RunRecord:
    id: int
    kind: str
    status: str
    started_at: str
    finished_at: str | None
    model_name: str | None
    model_hash: str | None
    board: str | None
    firmware_hash: str | None
    toolchain: str | None
    host: str | None
    cycles_kind: str | None
    summary: dict[str, Any] = field(default_factory=dict)
    fleet_id: int | None = None  # the fleet run this board's run belongs to
    instance: str | None = None  # which board of the fleet (netduinoplus2#0, uno@/dev/ttyACM0)


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    unit: str | None = None
    step: int | None = None
    tags: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LayerRow:
    index: int
    op: str
    name: str | None = None
    input_shapes: str | None = None
    output_shapes: str | None = None
    macs: int | None = None
    cycles: int | float | None = None  # a median over invocations may be fractional
    share: float | None = None  # of the run's total layer cycles, 0..1
    extra: dict[str, Any] = field(default_factory=dict)  # any other fields the caller gave


@dataclass(frozen=True)
class SampleRow:
    index: int
    mismatches: int | None = None  # output elements that differ from the reference
    max_abs_diff: float | None = None
    cycles: int | float | None = None
    label: int | None = None  # expected class (demo runs)
    predicted: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Artifact:
    id: int
    name: str
    step: int | None
    size: int | None
    created_at: str
    data: bytes | None = None
    path: str | None = None


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def default_db_path() -> Path:
    """``$MCUFORGE_DB`` if set, else ``mcuforge.db`` in the working directory."""
    env = os.environ.get(DB_ENV)
    return Path(env) if env else Path.cwd() / DEFAULT_DB_NAME


def host_name() -> str:
    return f"{socket.gethostname()} ({platform.system()} {platform.machine()})"


@functools.lru_cache(maxsize=1)
def toolchain_version() -> str:
    """``mcuforge X; <first line of arm-none-eabi-gcc --version>`` (computed once per process)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            ours = version("mcuforge")
        except PackageNotFoundError:
            ours = "unknown"
    except ImportError:  # pragma: no cover - stdlib since 3.8
        ours = "unknown"
    try:
        out = subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
        gcc = out.splitlines()[0].strip() if out.strip() else "arm-none-eabi-gcc: no version output"
    except (OSError, subprocess.SubprocessError):
        gcc = "arm-none-eabi-gcc: not found"
    return f"mcuforge {ours}; {gcc}"


def format_shapes(shapes: Any) -> str | None:
    """``(1, 49, 10)`` -> ``1x49x10``; a list of shapes -> ``1x49x10, 1x4``; strings pass through."""
    if shapes is None or isinstance(shapes, str):
        return shapes
    shapes = list(shapes)
    if not shapes:
        return ""
    if all(isinstance(d, (int,)) or hasattr(d, "__index__") for d in shapes):
        return "x".join(str(int(d)) for d in shapes)
    return ", ".join(format_shapes(s) or "" for s in shapes)


def _as_mapping(row: Any, what: str) -> Mapping[str, Any]:
    if isinstance(row, Mapping):
        return row
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return dataclasses.asdict(row)
    raise TypeError(f"{what} rows must be dicts or dataclasses, got {type(row).__name__}")


def _check_keys(row: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = set(row) - allowed
    if unknown:
        raise ValueError(f"{what} has unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _split_extra(row: Mapping[str, Any], known: set[str], what: str) -> dict[str, Any]:
    """Fields without a column are kept as JSON; a near-miss of a column name is a typo, not extra."""
    extra = {}
    for key in row:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.8)
        if close:
            raise ValueError(f"{what} has field {key!r}; did you mean {close[0]!r}?")
        extra[key] = row[key]
    return extra


def _finite(value: Any, what: str) -> float:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
        raise TypeError(f"{what} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{what} must be finite, got {v}")
    return v


def _opt_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise TypeError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _opt_float(value: Any, what: str) -> float | None:
    return None if value is None else _finite(value, what)


def _opt_count(value: Any, what: str) -> int | float | None:
    """A non-negative count; integral values stay ints, a median like 1234.5 stays a float."""
    if value is None:
        return None
    v = _finite(value, what)
    if v < 0:
        raise ValueError(f"{what} must not be negative, got {v:g}")
    return int(v) if v.is_integer() else v


def _json(obj: Mapping[str, Any] | None, what: str) -> str:
    try:
        return json.dumps(dict(obj or {}), sort_keys=True, default=_json_default)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} is not JSON-serialisable: {e}") from None


def _json_default(o: Any) -> Any:
    # numpy scalars and arrays show up in summaries; store them as plain numbers/lists.
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} {o!r}")


class RunHandle:
    """What ``ResultsStore.run`` yields: the run id plus writers bound to it.

    ``summary`` is a dict written when the run finishes (also when it fails).
    """

    def __init__(self, store: "ResultsStore", run_id: int):
        self.store = store
        self.id = run_id
        self.summary: dict[str, Any] = {}

    def metric(self, name: str, value: float, unit: str | None = None, step: int | None = None,
               **tags: Any) -> None:
        self.store.add_metric(self.id, name, value, unit=unit, step=step, **tags)

    def metrics(self, values: Mapping[str, Any], step: int | None = None, **tags: Any) -> None:
        self.store.add_metrics(self.id, values, step=step, **tags)

    def layers(self, rows: Iterable[Any]) -> None:
        self.store.add_layers(self.id, rows)

    def samples(self, rows: Iterable[Any]) -> None:
        self.store.add_samples(self.id, rows)

    def artifact(self, name: str, data: bytes | None = None, path: str | os.PathLike | None = None,
                 step: int | None = None) -> int:
        return self.store.add_artifact(self.id, name, data=data, path=path, step=step)


class ResultsStore:
    """An mcuforge results database (created and migrated on open)."""

    def __init__(self, path: str | os.PathLike | None = None, timeout: float = 30.0, *,
                 readonly: bool = False):
        """Open (and create or migrate) the database at ``path``. ``readonly`` opens an existing
        file without writing to it or beside it (``report``; read-only media): a missing file is
        an error and nothing is created."""
        self.path = Path(path) if path is not None else default_db_path()
        self.readonly = readonly
        self._timeout = timeout
        if self.path.is_dir():
            raise ResultsError(f"results database path {self.path} is a directory")
        if not self.path.parent.exists():
            raise ResultsError(f"results database directory {self.path.parent} does not exist")
        if readonly and not self.path.exists():
            raise ResultsError(f"no results database at {self.path} (nothing recorded there yet; check the "
                               f"--db path or ${DB_ENV})")
        self._lock = threading.RLock()
        self._db = None
        try:
            self._db = self._open_readonly() if readonly else self._open_writable()
        except sqlite3.DatabaseError as e:
            if self._db is not None:
                with contextlib.suppress(Exception):
                    self._db.close()
            raise ResultsError(f"{self.path} is not a usable mcuforge results database: {e}") from None
        except ResultsError:
            if self._db is not None:
                self._db.close()
            raise

    def _open_writable(self) -> sqlite3.Connection:
        # WAL mode writes -wal and -shm files beside the database: its folder must be writable too.
        if _read_only_fs(self.path) or not os.access(self.path.parent, os.W_OK):
            raise ResultsError(f"cannot write the results database {self.path}: read-only folder "
                               f"{self.path.parent}; choose another --db ('report' reads it where it is)")
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise ResultsError(f"cannot write the results database {self.path}: read-only file; "
                               "choose another --db ('report' reads it where it is)")
        # isolation_level=None: autocommit, every write is durable at once. The busy timeout makes
        # a writer wait for another session's write instead of failing (WAL: readers never wait).
        self._db = sqlite3.connect(str(self.path), timeout=self._timeout, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._retry_busy(lambda: self._db.execute("PRAGMA journal_mode = WAL"))
        self._retry_busy(self._migrate)
        return self._db

    def _open_readonly(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri()
        try:
            self._db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=self._timeout,
                                       isolation_level=None, check_same_thread=False)
            version = _schema_version_of(self._db)
        except sqlite3.OperationalError:
            # A WAL file on read-only media: SQLite cannot create the -shm beside it; nothing can
            # change it either, so read it as immutable.
            with contextlib.suppress(Exception):
                self._db.close()
            self._db = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None,
                                       check_same_thread=False)
            version = _schema_version_of(self._db)
        if version is None:
            tables = sorted(r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'"))
            if not tables:  # a writer's connect() creates the file a moment before its schema
                raise ResultsError(f"{self.path} is an empty database: no results recorded there yet (a session "
                                   "that is creating it has not written its schema; try again)")
            raise ResultsError(f"{self.path} is an SQLite database but not an mcuforge results database "
                               f"(no meta table; has {tables})")
        if version != SCHEMA_VERSION:
            raise ResultsError(f"{self.path} has results schema version {version}; this mcuforge reads "
                               f"{SCHEMA_VERSION} (open it once writable to migrate an older one)")
        return self._db

    def _retry_busy(self, fn):
        """Run ``fn``, retrying while another session holds the lock in a way SQLite's own busy
        timeout does not wait for (changing the journal mode, a lock upgrade)."""
        deadline = time.monotonic() + self._timeout
        delay = 0.005
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    # ---- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def schema_version(self) -> int:
        return _read_version(self._db)

    def _migrate(self) -> None:
        db = self._db
        # IMMEDIATE takes the write lock first, so two processes opening a new file do not both
        # create the tables; the version is re-read under the lock.
        db.execute("BEGIN IMMEDIATE")
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "meta" not in tables:
                if tables:
                    raise ResultsError(
                        f"{self.path} is an SQLite database but not an mcuforge results database "
                        f"(no meta table; has {sorted(tables)})")
                db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                db.execute("INSERT INTO meta VALUES ('schema_version', '0')")
                db.execute("INSERT INTO meta VALUES ('created_at', ?)", (utc_now(),))
            version = _read_version(db)
            if version > SCHEMA_VERSION:
                raise ResultsError(
                    f"{self.path} has results schema version {version}, newer than this mcuforge "
                    f"understands ({SCHEMA_VERSION}); upgrade mcuforge or use another --db")
            for step in MIGRATIONS[version:]:
                for sql in step:
                    db.execute(sql)
                version += 1
                db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction for a batch of rows (all or nothing), committed on exit."""
        with self._lock, self._write_errors():
            self._retry_busy(lambda: self._db.execute("BEGIN IMMEDIATE"))
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._retry_busy(lambda: self._db.execute("COMMIT"))

    def _write(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        with self._lock, self._write_errors():
            return self._retry_busy(lambda: self._db.execute(sql, params))

    @contextlib.contextmanager
    def _write_errors(self) -> Iterator[None]:
        if self.readonly:
            raise ResultsError(f"{self.path} was opened read-only")
        try:
            yield
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as e:  # disk full, file gone read-only, locked past the timeout
            raise ResultsError(f"could not write to the results database {self.path}: {e}") from None

    def _require_run(self, run_id: Any) -> int:
        """The run id as a plain int (numpy ints welcome), after checking the run exists."""
        if isinstance(run_id, bool) or not hasattr(run_id, "__index__"):
            raise TypeError(f"run_id must be an int, got {run_id!r}")
        run_id = int(run_id)
        with self._lock:
            if self._db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                raise ValueError(f"no run with id {run_id} in {self.path}")
        return run_id

    # ---- writing -----------------------------------------------------------------------
    def start_run(self, kind: str, *, model_name: str | None = None, model_hash: str | None = None,
                  board: str | None = None, firmware_hash: str | None = None,
                  toolchain: str | None = None, host: str | None = None,
                  cycles_kind: str | None = None, summary: Mapping[str, Any] | None = None,
                  fleet_id: int | None = None, instance: str | None = None) -> int:
        """Record a new run with status ``running`` (committed at once) and return its id.

        ``toolchain`` and ``host`` default to this machine's; ``cycles_kind`` says whether cycle
        counts are ``emulated-instructions`` (QEMU -icount) or ``hardware`` cycles. A board's run
        in a fleet gives the fleet run's id and its ``instance``.
        """
        if fleet_id is not None:
            fleet_id = self._require_run(fleet_id)
        if kind not in KINDS:
            raise ValueError(f"unknown run kind {kind!r}; expected one of {KINDS}")
        if cycles_kind is not None and cycles_kind not in CYCLES_KINDS:
            raise ValueError(f"unknown cycles_kind {cycles_kind!r}; expected one of {CYCLES_KINDS}")
        cur = self._write(
            "INSERT INTO runs (kind, status, started_at, model_name, model_hash, board, firmware_hash,"
            " toolchain, host, cycles_kind, summary, fleet_id, instance)"
            " VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (kind, utc_now(), model_name, model_hash, board, firmware_hash,
             toolchain if toolchain is not None else toolchain_version(),
             host if host is not None else host_name(), cycles_kind, _json(summary, "summary"),
             fleet_id, instance))
        return int(cur.lastrowid)

    def update_run(self, run_id: int, **fields: Any) -> None:
        """Fill in identity learnt after the run started (e.g. firmware_hash once built)."""
        run_id = self._require_run(run_id)
        allowed = {"model_name", "model_hash", "board", "firmware_hash", "toolchain", "host",
                   "cycles_kind"}
        _check_keys(fields, allowed, "update_run")
        if fields.get("cycles_kind") not in (None, *CYCLES_KINDS):
            raise ValueError(f"unknown cycles_kind {fields['cycles_kind']!r}; expected one of {CYCLES_KINDS}")
        if fields:
            cols = ", ".join(f"{k} = ?" for k in fields)
            self._write(f"UPDATE runs SET {cols} WHERE id = ?", (*fields.values(), run_id))

    def finish_run(self, run_id: int, status: str = "ok", summary: Mapping[str, Any] | None = None) -> None:
        """Set the final status and finish time; ``summary`` is merged into the stored one."""
        if status not in STATUSES or status == "running":
            raise ValueError(f"finish status must be one of {STATUSES[1:]}, got {status!r}")
        run_id = self._require_run(run_id)
        with self._lock:
            row = self._db.execute("SELECT summary FROM runs WHERE id = ?", (run_id,)).fetchone()
            merged = {**json.loads(row[0] or "{}"), **dict(summary or {})}
            self._write("UPDATE runs SET status = ?, finished_at = ?, summary = ? WHERE id = ?",
                        (status, utc_now(), _json(merged, "summary"), run_id))

    @contextlib.contextmanager
    def run(self, kind: str, **ident: Any) -> Iterator[RunHandle]:
        """``with store.run("profile", model_hash=...) as r: r.metric(...)``.

        Ends ``ok`` normally, ``interrupted`` on KeyboardInterrupt/SystemExit, ``failed`` on any
        other exception (the error goes into the summary); the exception propagates and every
        measurement written before it stays.
        """
        handle = RunHandle(self, self.start_run(kind, **ident))
        try:
            yield handle
        except Exception as e:
            self._end(handle, "failed", e)
            raise
        except BaseException as e:
            self._end(handle, "interrupted", e)
            raise
        self._end(handle, "ok", None)

    def _end(self, handle: RunHandle, status: str, exc: BaseException | None) -> None:
        summary = dict(handle.summary)
        if exc is not None:
            summary["error"] = f"{type(exc).__name__}: {exc}".rstrip(": ")
        try:
            # A body that already called finish_run() chose its own status; keep it.
            current = self.get_run(handle.id).status
            self.finish_run(handle.id, status if current == "running" else current, summary)
        except (sqlite3.Error, ResultsError, ValueError) as e:
            if exc is None:
                raise
            # Never hide the session's own exception behind a bookkeeping one.
            exc.add_note(f"mcuforge: could not mark run {handle.id} {status} in {self.path}: {e}")

    def add_metric(self, run_id: int, name: str, value: float, unit: str | None = None,
                   step: int | None = None, **tags: Any) -> None:
        """One scalar; ``step`` for series (training steps), ``tags`` (e.g. rule="hebbian") tell
        series apart."""
        run_id = self._require_run(run_id)
        if not isinstance(name, str) or not name:
            raise ValueError(f"metric name must be a non-empty string, got {name!r}")
        v = _finite(value, f"metric {name!r}")
        s = _opt_int(step, f"step of metric {name!r}")
        self._write("INSERT INTO metrics (run_id, name, value, unit, step, tags) VALUES (?, ?, ?, ?, ?, ?)",
                    (run_id, name, v, unit, s, _json(tags, f"tags of metric {name!r}")))

    def add_metrics(self, run_id: int, values: Mapping[str, Any], step: int | None = None,
                    **tags: Any) -> None:
        """Several scalars at once: ``{name: value}`` or ``{name: (value, unit)}`` (one transaction)."""
        run_id = self._require_run(run_id)
        rows = []
        for name, val in values.items():
            unit = None
            if isinstance(val, tuple):
                if len(val) != 2:
                    raise ValueError(f"metric {name!r}: expected value or (value, unit), got {val!r}")
                val, unit = val
            if not isinstance(name, str) or not name:
                raise ValueError(f"metric name must be a non-empty string, got {name!r}")
            rows.append((run_id, name, _finite(val, f"metric {name!r}"), unit,
                         _opt_int(step, "step"), _json(tags, "tags")))
        with self._tx() as db:
            db.executemany("INSERT INTO metrics (run_id, name, value, unit, step, tags)"
                           " VALUES (?, ?, ?, ?, ?, ?)", rows)

    _LAYER_KEYS = {"index", "idx", "name", "op", "input_shapes", "output_shapes", "input_shape",
                   "output_shape", "macs", "cycles", "share"}

    def add_layers(self, run_id: int, rows: Iterable[Any]) -> None:
        """Per-layer profile rows (dicts or dataclasses): index (default: position), op, name,
        input_shapes / output_shapes (text or shape tuples), macs, cycles, share (0..1; derived
        from cycles when omitted). Other fields are kept in ``extra``. Re-adding an index replaces it."""
        run_id = self._require_run(run_id)
        out = []
        for i, raw in enumerate(rows):
            r = _as_mapping(raw, "layer")
            extra = _split_extra(r, self._LAYER_KEYS, f"layer row {i}")
            idx = _opt_int(r.get("index", r.get("idx", i)), f"index of layer row {i}")
            op = r.get("op")
            if not op:
                raise ValueError(f"layer row {i} has no op")
            out.append((run_id, idx, r.get("name"), str(op),
                        format_shapes(r.get("input_shapes", r.get("input_shape"))),
                        format_shapes(r.get("output_shapes", r.get("output_shape"))),
                        _opt_count(r.get("macs"), f"macs of layer {idx}"),
                        _opt_count(r.get("cycles"), f"cycles of layer {idx}"),
                        _opt_float(r.get("share"), f"share of layer {idx}"),
                        _json(extra, f"extra fields of layer {idx}")))
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO layers (run_id, idx, name, op, input_shapes,"
                           " output_shapes, macs, cycles, share, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           out)

    _SAMPLE_KEYS = {"index", "idx", "mismatches", "max_abs_diff", "cycles", "label", "predicted"}

    def add_samples(self, run_id: int, rows: Iterable[Any]) -> None:
        """Per-input rows: index (default: position), mismatches (output elements differing from
        the reference), max_abs_diff, cycles, label, predicted; all optional. Other fields are kept
        in ``extra``. Re-adding an index replaces it."""
        run_id = self._require_run(run_id)
        out = []
        for i, raw in enumerate(rows):
            r = _as_mapping(raw, "sample")
            extra = _split_extra(r, self._SAMPLE_KEYS, f"sample row {i}")
            idx = _opt_int(r.get("index", r.get("idx", i)), f"index of sample row {i}")
            out.append((run_id, idx, _opt_int(r.get("mismatches"), f"mismatches of sample {idx}"),
                        _opt_float(r.get("max_abs_diff"), f"max_abs_diff of sample {idx}"),
                        _opt_count(r.get("cycles"), f"cycles of sample {idx}"),
                        _opt_int(r.get("label"), f"label of sample {idx}"),
                        _opt_int(r.get("predicted"), f"predicted of sample {idx}"),
                        _json(extra, f"extra fields of sample {idx}")))
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO samples (run_id, idx, mismatches, max_abs_diff,"
                           " cycles, label, predicted, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", out)

    def add_artifact(self, run_id: int, name: str, data: bytes | None = None,
                     path: str | os.PathLike | None = None, step: int | None = None) -> int:
        """Store bytes (``data``) or a reference to a file (``path``), e.g. a checkpoint per step."""
        run_id = self._require_run(run_id)
        if (data is None) == (path is None):
            raise ValueError(f"artifact {name!r}: give exactly one of data= or path=")
        if data is not None and not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"artifact {name!r}: data must be bytes, got {type(data).__name__}")
        size = len(data) if data is not None else (Path(path).stat().st_size if Path(path).exists() else None)
        cur = self._write(
            "INSERT INTO artifacts (run_id, name, step, data, path, size, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, name, _opt_int(step, "step"), bytes(data) if data is not None else None,
             str(Path(path).resolve()) if path is not None else None, size, utc_now()))
        return int(cur.lastrowid)

    def delete_run(self, run_id: int) -> None:
        run_id = self._require_run(run_id)
        self._write("DELETE FROM runs WHERE id = ?", (run_id,))

    # ---- reading -----------------------------------------------------------------------
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        # numpy integers (a run id taken from an array) do not bind in sqlite3; plain ints do.
        params = [int(p) if hasattr(p, "__index__") and not isinstance(p, int) else p for p in params]
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    _RUN_COLS = ("id, kind, status, started_at, finished_at, model_name, model_hash, board,"
                 " firmware_hash, toolchain, host, cycles_kind, summary, fleet_id, instance")

    @staticmethod
    def _run_record(row: tuple) -> RunRecord:
        try:
            summary = json.loads(row[12] or "{}")
        except json.JSONDecodeError:
            summary = {"unparsed_summary": row[12]}
        return RunRecord(*row[:12], summary=summary, fleet_id=row[13], instance=row[14])

    def get_run(self, run_id: int) -> RunRecord:
        rows = self._query(f"SELECT {self._RUN_COLS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise ValueError(f"no run with id {run_id} in {self.path}")
        return self._run_record(rows[0])

    def runs(self, kind: str | None = None, limit: int | None = None, *, model_hash: str | None = None,
             board: str | None = None, status: str | None = None, fleet_id: int | None = None) -> list[RunRecord]:
        """Runs, newest first, optionally filtered (``fleet_id``: the board runs of one fleet run)."""
        where, params = [], []
        for col, val in (("kind", kind), ("model_hash", model_hash), ("board", board), ("status", status),
                         ("fleet_id", fleet_id)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        sql = f"SELECT {self._RUN_COLS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [self._run_record(r) for r in self._query(sql, params)]

    def count_runs(self, kind: str | None = None) -> int:
        if kind is None:
            return self._query("SELECT COUNT(*) FROM runs")[0][0]
        return self._query("SELECT COUNT(*) FROM runs WHERE kind = ?", (kind,))[0][0]

    def latest(self, kind: str, model_hash: str | None = None, board: str | None = None,
               status: str | None = "ok") -> RunRecord | None:
        """The newest run of ``kind`` (by default only successful ones; status=None for any)."""
        found = self.runs(kind, 1, model_hash=model_hash, board=board, status=status)
        return found[0] if found else None

    def metrics(self, run_id: int, name: str | None = None) -> list[Metric]:
        """A run's metrics in insertion order (optionally only ``name``)."""
        sql = "SELECT name, value, unit, step, tags FROM metrics WHERE run_id = ?"
        params: list[Any] = [run_id]
        if name is not None:
            sql += " AND name = ?"
            params.append(name)
        return [Metric(n, v, u, s, json.loads(t or "{}"))
                for n, v, u, s, t in self._query(sql + " ORDER BY id", params)]

    def metric(self, run_id: int, name: str, default: float | None = None) -> float | None:
        """The last value recorded for a step-less metric, or ``default``."""
        rows = self._query("SELECT value FROM metrics WHERE run_id = ? AND name = ? AND step IS NULL"
                           " ORDER BY id DESC LIMIT 1", (run_id, name))
        return rows[0][0] if rows else default

    def layers(self, run_id: int) -> list[LayerRow]:
        """Per-layer rows by index; a missing share is derived from the run's total cycles."""
        rows = self._query("SELECT idx, op, name, input_shapes, output_shapes, macs, cycles, share, extra"
                           " FROM layers WHERE run_id = ? ORDER BY idx", (run_id,))
        total = sum(r[6] for r in rows if r[6] is not None)
        return [LayerRow(*r[:6], cycles=_num(r[6]),
                         share=r[7] if r[7] is not None else (r[6] / total if r[6] is not None and total else None),
                         extra=json.loads(r[8] or "{}")) for r in rows]

    def samples(self, run_id: int) -> list[SampleRow]:
        return [SampleRow(idx, mis, diff, _num(cyc), label, pred, json.loads(extra or "{}"))
                for idx, mis, diff, cyc, label, pred, extra in self._query(
                    "SELECT idx, mismatches, max_abs_diff, cycles, label, predicted, extra FROM samples"
                    " WHERE run_id = ? ORDER BY idx", (run_id,))]

    def artifacts(self, run_id: int, name: str | None = None, with_data: bool = False) -> list[Artifact]:
        cols = "id, name, step, size, created_at, " + ("data" if with_data else "NULL") + ", path"
        sql = f"SELECT {cols} FROM artifacts WHERE run_id = ?"
        params: list[Any] = [run_id]
        if name is not None:
            sql += " AND name = ?"
            params.append(name)
        return [Artifact(*r) for r in self._query(sql + " ORDER BY id", params)]


def _num(v: float | None) -> int | float | None:
    """REAL columns give back 1200.0; counts read better as ints when they are whole."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _schema_version_of(db: sqlite3.Connection) -> int | None:
    """The schema version of an opened file; None when it has no meta table (not ours)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone() is None:
        return None
    return _read_version(db)


def _read_only_fs(path: Path) -> bool:
    """True when ``path`` (or the folder that would hold it) is on a read-only mount; root's
    write access passes ``os.access`` there."""
    where = path if path.exists() else path.parent
    try:
        return bool(os.statvfs(where).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _read_version(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        raise ResultsError("results database has a meta table without schema_version")
    return int(row[0])


def open_store(path: str | os.PathLike | None = None) -> ResultsStore:
    """The store at ``path`` (the CLI's ``--db``), else ``$MCUFORGE_DB``, else ./mcuforge.db."""
    return ResultsStore(path)
