"""The results database schema as an append-only list of migrations.

``meta.schema_version`` in a file counts the steps it has had; opening it with
``ResultsStore`` applies the rest. To change the schema, append a step (ALTER TABLE, CREATE
TABLE/INDEX ...); never edit one that has shipped.
"""
from __future__ import annotations

# Append-only: never edit a released step, add a new one. Step i brings a file from
# schema_version i to i + 1.
MIGRATIONS: list[tuple[str, ...]] = [
    # 1: the measurement tables.
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'running',
            started_at TEXT NOT NULL,
            finished_at TEXT,
            model_name TEXT,
            model_hash TEXT,
            board TEXT,
            firmware_hash TEXT,
            toolchain TEXT,
            host TEXT,
            cycles_kind TEXT,
            summary TEXT NOT NULL DEFAULT '{}'
        )""",
        """CREATE TABLE metrics (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            value REAL NOT NULL,
            unit TEXT,
            step INTEGER,
            tags TEXT NOT NULL DEFAULT '{}'
        )""",
        """CREATE TABLE layers (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            name TEXT,
            op TEXT NOT NULL,
            input_shapes TEXT,
            output_shapes TEXT,
            macs INTEGER,
            cycles INTEGER,
            share REAL,
            PRIMARY KEY (run_id, idx)
        )""",
        """CREATE TABLE samples (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            mismatches INTEGER,
            max_abs_diff REAL,
            cycles INTEGER,
            label INTEGER,
            predicted INTEGER,
            PRIMARY KEY (run_id, idx)
        )""",
        """CREATE TABLE artifacts (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            step INTEGER,
            data BLOB,
            path TEXT,
            size INTEGER,
            created_at TEXT NOT NULL,
            CHECK ((data IS NULL) <> (path IS NULL))
        )""",
    ),
    # 2: indexes for latest() and per-run lookups.
    (
        "CREATE INDEX runs_by_kind ON runs(kind, model_hash, board, started_at)",
        "CREATE INDEX metrics_by_run ON metrics(run_id, name, step)",
        "CREATE INDEX artifacts_by_run ON artifacts(run_id, name, step)",
    ),
    # 3: fields of a layer/sample row that have no column of their own (JSON). A fractional
    # median in the INTEGER cycles columns is kept as REAL by SQLite's type affinity.
    (
        "ALTER TABLE layers ADD COLUMN extra TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE samples ADD COLUMN extra TEXT NOT NULL DEFAULT '{}'",
    ),
    # 4: a fleet run (``mcuforge fleet``) has one child run per board: ``fleet_id`` is the
    # parent's id, ``instance`` names the board among its kind (netduinoplus2#0, uno@/dev/ttyACM0).
    (
        "ALTER TABLE runs ADD COLUMN fleet_id INTEGER REFERENCES runs(id) ON DELETE CASCADE",
        "ALTER TABLE runs ADD COLUMN instance TEXT",
        "CREATE INDEX runs_by_fleet ON runs(fleet_id)",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)
