"""The results database under bad paths, read-only media, concurrent sessions: a clear error
(exit 2, no traceback) or every row kept."""
from __future__ import annotations

import shlex
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from mcuforge.results.store import ResultsError, ResultsStore
from models.zoo import ZOO


def mcuforge(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mcuforge", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def assert_usage_error(p, *words):
    assert p.returncode == 2, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert "Traceback" not in p.stderr, p.stderr
    for w in words:
        assert w in p.stderr, p.stderr


@pytest.fixture
def valid_db(tmp_path):
    path = tmp_path / "valid.db"
    with ResultsStore(path) as s, s.run("profile", model_name="kws", board="netduinoplus2") as r:
        r.metric("flash_bytes", 30000, unit="B")
        r.layers([dict(op="CONV_2D", cycles=1000, macs=500)])
    return path


def test_report_on_bad_paths_is_a_usage_error_and_creates_nothing(tmp_path):
    assert_usage_error(mcuforge("report", "--db", "/nonexistent/x.db", "-o", tmp_path / "r.html"), "does not exist")
    typo = tmp_path / "mcuforg.db"
    assert_usage_error(mcuforge("report", "--db", typo, "-o", tmp_path / "r.html"), "no results database", str(typo))
    assert not typo.exists()
    assert_usage_error(mcuforge("report", "--db", tmp_path, "-o", tmp_path / "r.html"), "is a directory")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite" * 200)
    assert_usage_error(mcuforge("report", "--db", junk, "-o", tmp_path / "r.html"), "not a usable")
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE people (name TEXT)")
    assert_usage_error(mcuforge("report", "--db", foreign, "-o", tmp_path / "r.html"), "not an mcuforge results")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.db", "junk.db"]


def test_readonly_open_of_a_database_being_created_names_that_state(tmp_path):
    # What a reader sees between a writer's connect() and its schema: a 0-byte file, then a WAL header.
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(ResultsError, match="empty database: no results recorded there yet"):
        ResultsStore(empty, readonly=True)
    wal = tmp_path / "wal.db"
    with sqlite3.connect(wal) as db:
        db.execute("PRAGMA journal_mode = WAL")
    with pytest.raises(ResultsError, match="empty database"):
        ResultsStore(wal, readonly=True)
    assert_usage_error(mcuforge("report", "--db", empty, "-o", tmp_path / "r.html"), "empty database")
    assert empty.stat().st_size == 0  # the reader created nothing


def test_readonly_store_never_writes(valid_db):
    with ResultsStore(valid_db, readonly=True) as s:
        (run,) = s.runs()
        assert run.status == "ok" and s.metric(run.id, "flash_bytes") == 30000
        with pytest.raises(ResultsError, match="read-only"):
            s.add_metric(run.id, "x", 1.0)


def _in_readonly_mount(tmp_path, files: dict, commands: list[list]) -> list[int]:
    """Run each command (argv) in a private mount namespace where ``tmp_path/ro`` is a read-only
    tmpfs holding ``files`` ({name: source path}); returns their exit codes, output in tmp_path/out-N."""
    ro = tmp_path / "ro"
    ro.mkdir()
    script = [f"mount -t tmpfs tmpfs {shlex.quote(str(ro))}"]
    script += [f"cp {shlex.quote(str(src))} {shlex.quote(str(ro / name))}" for name, src in files.items()]
    script += [f"mount -o remount,ro {shlex.quote(str(ro))}", "touch {0}/probe 2>/dev/null && exit 99".format(ro)]
    for n, argv in enumerate(commands):
        out = tmp_path / f"out-{n}"
        script.append(f"{shlex.join(map(str, argv))} >{out}.stdout 2>{out}.stderr && echo 0 >{out}.rc || echo $? >{out}.rc")
    p = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-ec", "\n".join(script)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"could not set up a read-only mount: {p.stderr}"
    return [int((tmp_path / f"out-{n}.rc").read_text()) for n in range(len(commands))]


def test_read_only_media(valid_db, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(ZOO["dense_flatten"]())
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite" * 200)
    ro = tmp_path / "ro"
    cli = [sys.executable, "-m", "mcuforge"]
    codes = _in_readonly_mount(tmp_path, {"valid.db": valid_db, "junk.db": junk}, [
        cli + ["report", "--db", ro / "valid.db", "-o", tmp_path / "r.html"],  # readable where it is
        cli + ["report", "--db", valid_db, "-o", ro / "r.html"],  # the report's folder is read-only
        cli + ["report", "--db", ro / "junk.db", "-o", tmp_path / "j.html"],
        cli + ["validate", model, "--db", ro / "valid.db", "--workdir", tmp_path / "fw"],
        [sys.executable, "-c", f"from mcuforge.results.store import ResultsStore; ResultsStore({str(ro / 'new.db')!r})"],
    ])
    err = [(tmp_path / f"out-{n}.stderr").read_text() for n in range(len(codes))]
    assert codes[0] == 0, err[0]
    assert "kws" in (tmp_path / "r.html").read_text()
    assert codes[1] == 2 and "cannot write the report" in err[1] and "Read-only file system" in err[1], err[1]
    assert codes[2] == 2 and "not a usable" in err[2], err[2]
    assert codes[3] == 2 and "cannot write the results database" in err[3], err[3]
    assert not (tmp_path / "fw").exists()  # found before anything was built
    assert codes[4] == 1 and "read-only folder" in err[4], err[4]
    assert not any("Traceback" in e for e in err[:4])


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from mcuforge.results.store import ResultsStore
    path, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    s = ResultsStore(path)
    while not go.exists():
        time.sleep(0.001)
    with s.run("bench", model_name=name) as r:
        for i in range(300):
            r.metric("m", i, step=i)
            if i % 10 == 0:
                r.samples([dict(index=i + k, cycles=k) for k in range(10)])
""")


def test_two_sessions_writing_at_once_keep_every_row(tmp_path):
    path, go = tmp_path / "shared.db", tmp_path / "go"
    ResultsStore(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{n}", str(go)],
                              stderr=subprocess.PIPE, text=True) for n in range(2)]
    go.touch()
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    with ResultsStore(path, readonly=True) as s:
        runs = s.runs()
        assert sorted(r.model_name for r in runs) == ["w0", "w1"] and {r.status for r in runs} == {"ok"}
        for r in runs:
            assert [m.value for m in s.metrics(r.id)] == list(range(300))
            assert len(s.samples(r.id)) == 300
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_failed_bookkeeping_write_never_hides_the_sessions_error(tmp_path):
    s = ResultsStore(tmp_path / "r.db")
    with pytest.raises(TimeoutError, match="no frame") as err:
        with s.run("validate"):
            s.readonly = True  # from here every write fails with ResultsError, as on media gone read-only
            raise TimeoutError("no frame from board")
    assert "could not mark run" in "".join(getattr(err.value, "__notes__", []))


@pytest.mark.qemu
def test_an_interrupted_profile_keeps_the_runs_it_measured(tmp_path, monkeypatch):
    """Ctrl-C during the second of three profiled runs: the store holds the profile run, marked
    interrupted, with the first run's total and per-layer counts exactly as the board gave them."""
    from mcuforge.profiling import profile
    from mcuforge.target import Target

    model = tmp_path / "dense.tflite"
    model.write_bytes(ZOO["dense_flatten"]())
    real, seen = Target.run_profiled, []

    def run_profiled(self, inputs):
        if seen:
            raise KeyboardInterrupt
        seen.append(real(self, inputs))
        return seen[-1]

    monkeypatch.setattr(Target, "run_profiled", run_profiled)
    with ResultsStore(tmp_path / "r.db") as store:
        with pytest.raises(KeyboardInterrupt):
            profile(model, "netduinoplus2", runs=3, workdir=tmp_path / "fw", store=store)
        (run,) = store.runs(kind="profile")
        rows = store.samples(run.id)
    _, total, layers = seen[0]
    assert run.status == "interrupted"
    assert [(r.index, r.cycles, r.extra["layer_cycles"]) for r in rows] == \
        [(0, total, [float(layer["cycles"]) for layer in layers])]
    assert total > 0 and len(layers) >= 2
