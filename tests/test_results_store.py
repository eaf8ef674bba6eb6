"""The SQLite results store, on real database files."""
from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from mcuforge.results.store import (MIGRATIONS, SCHEMA_VERSION, LayerRow, ResultsError, ResultsStore,
                                    default_db_path, toolchain_version)

IDENT = dict(model_name="kws", model_hash="a" * 64, board="netduinoplus2", firmware_hash="f" * 64,
             cycles_kind="emulated-instructions")


def tables(path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def indexes(path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")}


def test_creates_schema(tmp_path):
    path = tmp_path / "r.db"
    with ResultsStore(path) as s:
        assert s.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
        assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert {"meta", "runs", "metrics", "layers", "samples", "artifacts"} <= tables(path)
    assert {"runs_by_kind", "metrics_by_run"} <= indexes(path)


def test_reopen_is_idempotent(tmp_path):
    path = tmp_path / "r.db"
    with ResultsStore(path) as s:
        rid = s.start_run("profile", **IDENT)
        s.add_metric(rid, "flash_bytes", 4096, unit="B")
    before = (tables(path), indexes(path))
    for _ in range(2):
        with ResultsStore(path) as s:
            assert s.schema_version() == SCHEMA_VERSION
            assert [r.id for r in s.runs()] == [rid]
            assert s.metric(rid, "flash_bytes") == 4096
    assert (tables(path), indexes(path)) == before
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM meta WHERE key='schema_version'").fetchone()[0] == 1


def test_migrates_an_older_schema_and_keeps_its_data(tmp_path):
    # A file as the first released schema left it: only migration 1 applied.
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        for sql in MIGRATIONS[0]:
            db.execute(sql)
        db.execute("INSERT INTO runs (kind, status, started_at, board, summary)"
                   " VALUES ('validate', 'ok', '2024-01-01T00:00:00+00:00', 'mps2-an386', '{}')")
        db.execute("INSERT INTO metrics (run_id, name, value) VALUES (1, 'accuracy_board', 0.5)")
        db.execute("INSERT INTO layers (run_id, idx, op, cycles) VALUES (1, 0, 'conv2d', 100)")
    assert "runs_by_kind" not in indexes(path)

    with ResultsStore(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        old = s.latest("validate", board="mps2-an386")
        assert old is not None and old.id == 1
        assert s.metric(1, "accuracy_board") == 0.5
        assert s.layers(1) == [LayerRow(0, "conv2d", cycles=100, share=1.0)]
        new = s.start_run("validate", board="mps2-an386")
        assert s.runs("validate")[0].id == new  # newest first
        s.add_layers(new, [{"op": "conv2d", "op_index": 4}])  # needs the column migration 3 added
        assert s.layers(new)[0].extra == {"op_index": 4}
    assert {"runs_by_kind", "metrics_by_run", "artifacts_by_run"} <= indexes(path)


def test_refuses_newer_foreign_and_broken_files(tmp_path):
    newer = tmp_path / "newer.db"
    ResultsStore(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(ResultsError, match="newer than this mcuforge"):
        ResultsStore(newer)

    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE people (name TEXT)")
    with pytest.raises(ResultsError, match="not an mcuforge results database"):
        ResultsStore(foreign)
    assert tables(foreign) == {"people"}  # left untouched

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ResultsError, match="garbage.db"):
        ResultsStore(garbage)

    with pytest.raises(ResultsError, match="is a directory"):
        ResultsStore(tmp_path)
    with pytest.raises(ResultsError, match="does not exist"):
        ResultsStore(tmp_path / "nope" / "r.db")


def test_exception_marks_failed_and_keeps_measurements(tmp_path):
    path = tmp_path / "r.db"
    s = ResultsStore(path)
    with pytest.raises(TimeoutError, match="no frame"):
        with s.run("validate", **IDENT) as run:
            run.metric("flash_bytes", 30000, unit="B")
            run.samples([{"index": 0, "mismatches": 0, "max_abs_diff": 0.0, "cycles": 1200}])
            # Committed already: a second connection (another process would do the same) sees it.
            with ResultsStore(path) as other:
                assert other.get_run(run.id).status == "running"
                assert other.metric(run.id, "flash_bytes") == 30000
            run.summary["samples_sent"] = 1
            raise TimeoutError("no frame from board after 5 s")
    r = s.get_run(run.id)
    assert r.status == "failed" and r.finished_at is not None
    assert r.summary == {"samples_sent": 1, "error": "TimeoutError: no frame from board after 5 s"}
    assert [m.name for m in s.metrics(run.id)] == ["flash_bytes"]
    assert s.samples(run.id)[0].cycles == 1200

    with pytest.raises(KeyboardInterrupt):
        with s.run("learn") as run2:
            run2.metric("accuracy", 0.25, step=0, rule="sgd")
            raise KeyboardInterrupt
    assert s.get_run(run2.id).status == "interrupted"
    assert s.metrics(run2.id)[0].tags == {"rule": "sgd"}

    with s.run("demo") as run3:
        run3.metric("accuracy_board", 0.9)
    assert s.get_run(run3.id).status == "ok"
    s.close()


def test_killed_process_keeps_what_it_wrote(tmp_path):
    # A real child process that dies without any cleanup (SIGKILL) mid-session.
    path = tmp_path / "r.db"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from mcuforge.results.store import ResultsStore
        s = ResultsStore({str(path)!r})
        rid = s.start_run("learn", model_name="m")
        for step in range(3):
            s.add_metric(rid, "accuracy", 0.5 + step / 10, step=step)
        print(rid, flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        rid = int(child.stdout.readline())
    finally:
        child.kill()
        child.wait()
    with ResultsStore(path) as s:
        assert s.get_run(rid).status == "running"
        assert [(m.step, m.value) for m in s.metrics(rid)] == [(0, 0.5), (1, 0.6), (2, 0.7)]


def test_queries(tmp_path):
    s = ResultsStore(tmp_path / "r.db")
    a = s.start_run("profile", **IDENT)
    s.finish_run(a, summary={"note": "first"})
    b = s.start_run("profile", **{**IDENT, "board": "mps2-an386"})
    s.finish_run(b)
    c = s.start_run("profile", **IDENT)
    s.finish_run(c, "failed")
    v = s.start_run("validate", **IDENT)

    assert [r.id for r in s.runs()] == [v, c, b, a]
    assert [r.id for r in s.runs("profile", limit=2)] == [c, b]
    assert s.latest("profile").id == b  # c failed
    assert s.latest("profile", status=None).id == c
    assert s.latest("profile", board="netduinoplus2").id == a
    assert s.latest("profile", model_hash="b" * 64) is None
    assert s.latest("validate") is None and s.latest("validate", status=None).id == v
    ra = s.get_run(a)
    assert ra.summary == {"note": "first"} and ra.board == "netduinoplus2"
    assert ra.toolchain == toolchain_version() and ra.host

    s.add_metrics(a, {"flash_bytes": (48000, "B"), "arena_bytes": 12000})
    s.add_metric(a, "accuracy", 0.5, step=3, rule="hebbian")
    got = s.metrics(a)
    assert [(m.name, m.value, m.unit, m.step, m.tags) for m in got] == [
        ("flash_bytes", 48000.0, "B", None, {}), ("arena_bytes", 12000.0, None, None, {}),
        ("accuracy", 0.5, None, 3, {"rule": "hebbian"})]
    assert s.metric(a, "accuracy") is None  # only step-less values
    assert s.metric(a, "missing", default=-1) == -1

    s.add_layers(a, [{"op": "conv2d", "input_shapes": [(1, 49, 10, 1)], "output_shape": (1, 25, 5, 8),
                      "macs": 1000, "cycles": 300},
                     {"op": "fully_connected", "macs": 100, "cycles": 100, "name": "dense"}])
    layers = s.layers(a)
    assert [(l.index, l.op, l.input_shapes, l.output_shapes) for l in layers] == [
        (0, "conv2d", "1x49x10x1", "1x25x5x8"), (1, "fully_connected", None, None)]
    assert [l.share for l in layers] == [0.75, 0.25]

    s.add_samples(v, [{"mismatches": 0, "cycles": 10}, {"mismatches": 3, "max_abs_diff": 2, "cycles": 11}])
    s.add_samples(v, [{"index": 1, "mismatches": 0, "max_abs_diff": 0, "cycles": 12}])  # replaces
    assert [(x.index, x.mismatches, x.cycles) for x in s.samples(v)] == [(0, 0, 10), (1, 0, 12)]

    blob = bytes(range(256)) * 4
    s.add_artifact(v, "checkpoint", data=blob, step=5)
    f = tmp_path / "weights.bin"
    f.write_bytes(b"12345")
    s.add_artifact(v, "weights", path=f)
    arts = s.artifacts(v, with_data=True)
    assert [(x.name, x.step, x.size) for x in arts] == [("checkpoint", 5, 1024), ("weights", None, 5)]
    assert arts[0].data == blob and arts[1].path == str(f.resolve())
    assert s.artifacts(v)[0].data is None  # blobs only on request

    s.update_run(v, firmware_hash="e" * 64)
    assert s.get_run(v).firmware_hash == "e" * 64
    s.delete_run(v)  # cascades
    assert s.samples(v) == [] and s.artifacts(v) == []
    with sqlite3.connect(s.path) as db:
        assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 0
    s.close()


def test_bad_input_is_named(tmp_path):
    s = ResultsStore(tmp_path / "r.db")
    rid = s.start_run("profile")
    with pytest.raises(ValueError, match="unknown run kind 'train'"):
        s.start_run("train")
    with pytest.raises(ValueError, match="cycles_kind 'real'"):
        s.start_run("profile", cycles_kind="real")
    with pytest.raises(TypeError):
        s.start_run("profile", modelname="typo")
    with pytest.raises(ValueError, match="metric 'accuracy' must be finite"):
        s.add_metric(rid, "accuracy", float("nan"))
    with pytest.raises(TypeError, match="metric 'accuracy' must be a number"):
        s.add_metric(rid, "accuracy", "0.9")
    with pytest.raises(ValueError, match="no run with id 999"):
        s.add_metric(999, "accuracy", 0.9)
    with pytest.raises(ValueError, match="layer row 1 has no op"):
        s.add_layers(rid, [{"op": "conv2d"}, {"macs": 3}])
    with pytest.raises(ValueError, match="sample row 0 has field 'cycle'; did you mean 'cycles'"):
        s.add_samples(rid, [{"index": 0, "cycle": 3}])
    with pytest.raises(ValueError, match="cycles of layer 0 must not be negative"):
        s.add_layers(rid, [{"op": "conv2d", "cycles": -1}])
    with pytest.raises(ValueError, match="unknown field"):
        s.update_run(rid, boards="x")
    with pytest.raises(ValueError, match="exactly one of data= or path="):
        s.add_artifact(rid, "ckpt")
    with pytest.raises(ValueError, match="finish status"):
        s.finish_run(rid, "running")
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        s.finish_run(rid, summary={"x": object()})
    # Nothing half-written by the rejected calls.
    assert s.metrics(rid) == [] and s.layers(rid) == [] and s.samples(rid) == []
    assert [r.id for r in s.runs()] == [rid]
    s.close()


def test_numpy_values_are_accepted(tmp_path):
    import numpy as np

    with ResultsStore(tmp_path / "r.db") as s:
        rid = s.start_run("bench", summary={"shape": np.array([1, 2])})
        s.add_metric(rid, "macs_per_cycle", np.float32(0.25), step=np.int64(2))
        s.add_layers(rid, [{"op": "conv2d", "macs": np.int64(7), "cycles": np.int32(3),
                            "input_shapes": np.array([1, 8, 8, 3])}])
        assert s.metrics(rid)[0].value == 0.25 and s.metrics(rid)[0].step == 2
        assert s.layers(rid)[0].input_shapes == "1x8x8x3"
        assert s.get_run(rid).summary == {"shape": [1, 2]}
        ids = np.array([rid])  # run ids that went through numpy
        s.add_metric(ids[0], "x", 1)
        s.finish_run(ids[0])
        assert s.get_run(ids[0]).status == "ok" and len(s.metrics(ids[0])) == 2


def test_default_path_and_toolchain_version(tmp_path, monkeypatch):
    monkeypatch.delenv("MCUFORGE_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_db_path() == tmp_path / "mcuforge.db"
    with ResultsStore() as s:
        assert s.path == tmp_path / "mcuforge.db"
    assert (tmp_path / "mcuforge.db").exists()
    monkeypatch.setenv("MCUFORGE_DB", str(tmp_path / "env.db"))
    assert default_db_path() == tmp_path / "env.db"

    gcc = subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True, check=True)
    version = toolchain_version()
    assert version.startswith("mcuforge ")
    assert gcc.stdout.splitlines()[0] in version


def _open_and_write(path: str, n: int) -> int:
    s = ResultsStore(path)
    rid = s.start_run("bench", model_name=f"proc{n}")
    s.add_metrics(rid, {"x": n})
    s.finish_run(rid)
    s.close()
    return rid


def test_processes_creating_one_file_at_once(tmp_path):
    # Several processes opening a new file together: exactly one creates the schema.
    path = str(tmp_path / "shared.db")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        ids = pool.starmap(_open_and_write, [(path, n) for n in range(8)])
    assert sorted(ids) == list(range(1, 9))
    with ResultsStore(path) as s:
        assert sorted(r.model_name for r in s.runs()) == sorted(f"proc{n}" for n in range(8))
        assert all(r.status == "ok" for r in s.runs())
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT * FROM meta WHERE key='schema_version'").fetchall() == [
            ("schema_version", str(SCHEMA_VERSION))]


def test_profile_rows_with_medians_and_extra_fields(tmp_path):
    # What `mcuforge profile` writes: median cycles (may be fractional) and fields with no column.
    with ResultsStore(tmp_path / "r.db") as s:
        rid = s.start_run("profile", **IDENT)
        s.add_layers(rid, [
            {"index": 0, "op": "conv2d", "op_index": 3, "input_shape": "1x49x10x1", "output_shape": "1x25x5x8",
             "macs": 1000, "cycles": 1500.5, "macs_per_cycle": 1000 / 1500.5, "share": 0.75},
            {"index": 1, "op": "softmax", "op_index": 9, "input_shape": "1x4", "output_shape": "1x4",
             "macs": 0, "cycles": 500.0, "macs_per_cycle": 0.0, "share": 0.25}])
        s.add_samples(rid, [{"index": 0, "cycles": 2000.0, "input_file": "a.wav"}])
        first, second = s.layers(rid)
        assert first.cycles == 1500.5 and second.cycles == 500 and isinstance(second.cycles, int)
        assert first.extra == {"op_index": 3, "macs_per_cycle": 1000 / 1500.5}
        assert (first.input_shapes, first.output_shapes) == ("1x49x10x1", "1x25x5x8")
        sample = s.samples(rid)[0]
        assert sample.cycles == 2000 and sample.extra == {"input_file": "a.wav"}
