"""``mcuforge fleet``: one job on many emulated boards at once (real QEMU instances), the work spread over
them, every board's results in the database under its instance; a board killed or hung mid-run is
restarted or dropped and its work done elsewhere, nothing lost or counted twice."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from mcuforge.cli import main
from mcuforge.errors import UsageError
from mcuforge.fleet import (BenchJob, FleetError, ProfileJob, ValidateJob, WorkQueue, emulated_boards, real_boards,
                            run_fleet)
from mcuforge.results.store import ResultsError, ResultsStore
from models.zoo import ZOO

BOARD = "netduinoplus2"


@pytest.fixture(scope="module")
def dense():
    return ZOO["dense_flatten"]()


@pytest.fixture(scope="module")
def dense_fw(dense, tmp_path_factory):
    """The dense model's firmware for BOARD, generated and built once (fleets given it run it as it is)."""
    from mcuforge.build import build
    from mcuforge.project import generate

    project = generate(dense, BOARD, tmp_path_factory.mktemp("dense-fw"))
    build(project.path)
    return project.path


def _sample_owners(store, fleet_id):
    """{sample index: [instances whose run holds it]} over a fleet's board runs."""
    owners: dict[int, list[str]] = {}
    for run in store.runs(fleet_id=fleet_id):
        for s in store.samples(run.id):
            owners.setdefault(s.index, []).append(run.instance)
    return owners


# ---- the work queue, on its own -----------------------------------------------------------------
def test_queue_hands_each_item_out_once_and_takes_failures_back_first():
    q = WorkQueue([0, 1, 2], max_attempts=2)
    a, b = q.take("a"), q.take("b")
    assert (a, b) == (0, 1)
    assert q.give_back(a, "a", "link lost")  # queued again, at the front
    assert q.take("b2") == 0 and q.attempts(0) == 1
    with pytest.raises(RuntimeError, match="not held by a"):
        q.done(0, "a", "late")  # the board that gave it back cannot finish it
    assert not q.give_back(0, "b2", "link lost")  # second failure: set aside
    q.done(b, "b", "r1")
    assert q.take("a") == 2
    q.done(2, "a", "r2")
    assert q.take("a") is None
    out = q.close()
    assert out.done == {1: ("b", "r1"), 2: ("a", "r2")} and list(out.failed) == [0] and out.unfinished == []
    assert out.failed[0] == ["a: link lost", "b2: link lost"]


def test_queue_waits_for_a_held_item_that_may_come_back():
    q = WorkQueue(["x"])
    assert q.take("a") == "x"
    got = []
    waiter = threading.Thread(target=lambda: got.append(q.take("b")))
    waiter.start()
    time.sleep(0.2)
    assert waiter.is_alive()  # nothing pending, but "x" is held: b waits
    q.give_back("x", "a", "board died")
    waiter.join(5)
    assert got == ["x"]


def test_bad_fleet_options_are_refused_by_name(dense, tmp_path, capsys):
    with pytest.raises(UsageError, match="no emulator"):
        emulated_boards("nucleo-l476rg", 2)
    with pytest.raises(UsageError, match="twice"):
        real_boards("/dev/ttyACM0,uno=/dev/ttyACM0", BOARD)
    boards = real_boards("/dev/ttyACM0,uno=/dev/ttyUSB0", BOARD)
    assert [b.instance for b in boards] == ["netduinoplus2@/dev/ttyACM0", "uno@/dev/ttyUSB0"]
    model = tmp_path / "m.tflite"
    model.write_bytes(dense)
    assert main(["fleet", "validate", str(model), "--method", "openocd", "--db", str(tmp_path / "r.db")]) == 2
    assert "--ports" in capsys.readouterr().err
    assert main(["fleet", "validate", str(model), "--ports", "nosuchboard=/dev/ttyACM0"]) == 2
    assert "nosuchboard" in capsys.readouterr().err
    two = tmp_path / "n.tflite"
    two.write_bytes(ZOO["depthwise"]())
    with pytest.raises(UsageError, match="--method"):  # another model needs the board flashed with it
        run_fleet(BenchJob([model, two]), real_boards("socket://127.0.0.1:1,socket://127.0.0.1:2", BOARD))
    assert not (tmp_path / "r.db").exists()  # refused before anything was opened or built


# ---- on emulated boards --------------------------------------------------------------------------
@pytest.mark.qemu
def test_fleet_validate_spreads_samples_over_four_boards(dense, tmp_path):
    store = ResultsStore(tmp_path / "r.db")
    result = run_fleet(ValidateJob(dense, samples=8, seed=3), emulated_boards(BOARD, 4), store=store,
                       workdir=tmp_path / "fw")
    s = result.summary
    assert result.ok and s["items_done"] == s["samples"] == 8 and s["mismatches"] == 0 and s["boards_bit_exact"] >= 1
    assert s["cycles_kind"] == "emulated-instructions" and s["restarts"] == 0
    # Every sample once, in the run of the board that ran it; each board run names its instance.
    owners = _sample_owners(store, result.run_id)
    assert sorted(owners) == list(range(8)) and all(len(v) == 1 for v in owners.values())
    runs = store.runs(fleet_id=result.run_id)
    assert sorted(r.instance for r in runs) == [f"{BOARD}#{i}" for i in range(4)]
    assert all(r.kind == "validate" and r.status == "ok" and r.board == BOARD for r in runs)
    assert store.get_run(result.run_id).kind == "fleet" and store.get_run(result.run_id).status == "ok"
    # The counts each board measured are the ones the summary spreads (board medians).
    medians = [b["cycles_median"] for b in s["per_board"] if b["samples"]]
    assert s["cycles_board_min"] == min(medians) and s["cycles_board_max"] == max(medians) > 0


@pytest.mark.qemu
def test_a_killed_board_is_restarted_a_hung_one_dropped_and_nothing_is_lost_or_counted_twice(dense, dense_fw,
                                                                                              tmp_path):
    """Board 0's QEMU is killed (SIGKILL) after its first sample: the sample it takes next fails on a
    dead link, goes back to the queue, and the board starts again (a new QEMU) and carries on. Board
    1's QEMU is stopped (SIGSTOP: it hangs, its socket stays open) after the first sample of each of
    its lives: after --timeout its item goes back, it is restarted once, hangs again and is dropped.
    Board 2 never fails. Boards 0 and 2 wait after each sample until board 1 hung twice, so work is
    left for every board's next life whatever the timing. Every sample is then in exactly one
    board's run, bit-exact."""
    store = ResultsStore(tmp_path / "r.db")
    killed, stopped = [], []
    board_1_hung_twice = threading.Event()

    def fail(board, item, target):
        proc = target.session.proc
        if board.index == 1:
            if proc not in stopped:
                stopped.append(proc)
                os.kill(proc.pid, signal.SIGSTOP)
            if len(stopped) == 2:
                board_1_hung_twice.set()
            return
        if board.index == 0 and not killed:
            killed.append(proc)
            os.kill(proc.pid, signal.SIGKILL)
        board_1_hung_twice.wait(60)

    n = 16
    result = run_fleet(ValidateJob(dense, samples=n, project=dense_fw), emulated_boards(BOARD, 3), store=store,
                       restarts=1, timeout=0.5, on_done=fail)
    assert killed and killed[0].wait(5) == -signal.SIGKILL
    assert len(stopped) == 2 and all(p.poll() is not None for p in stopped)  # the hung QEMUs were ended
    s = result.summary
    b0, b1, b2 = s["per_board"]
    assert b0["restarts"] == 1 and not b0["dropped"] and b0["errors"][0].startswith("LinkError")  # lost or write failed
    assert b1["restarts"] == 1 and b1["dropped"] and b1["samples"] == 2 and len(b1["errors"]) == 2
    assert b2["restarts"] == 0 and not b2["errors"]
    assert s["restarts"] == 2 and s["boards_dropped"] == 1
    assert result.ok and s["items_done"] == s["samples"] == n and s["mismatches"] == 0
    owners = _sample_owners(store, result.run_id)
    assert sorted(owners) == list(range(n)) and all(len(v) == 1 for v in owners.values())
    runs = {r.instance: r for r in store.runs(fleet_id=result.run_id)}
    assert [runs[f"{BOARD}#{i}"].status for i in range(3)] == ["ok", "failed", "ok"]
    for run in runs.values():  # and each sample's row says bit-exact
        assert all(row.mismatches == 0 and row.cycles > 0 for row in store.samples(run.id))


@pytest.mark.qemu
def test_a_fleet_with_no_board_left_fails_and_keeps_what_it_measured(dense, dense_fw, tmp_path):
    store = ResultsStore(tmp_path / "r.db")

    def kill(board, item, target):
        os.kill(target.session.proc.pid, signal.SIGKILL)

    with pytest.raises(FleetError, match="every board was dropped with 3 of 4 items left"):
        run_fleet(ValidateJob(dense, samples=4, project=dense_fw), emulated_boards(BOARD, 1), store=store,
                  restarts=0, on_done=kill)
    fleet = store.runs(kind="fleet")[0]
    assert fleet.status == "failed" and fleet.summary["items_unfinished"] == 3
    (board,) = store.runs(fleet_id=fleet.id)
    assert board.status == "failed" and [s.index for s in store.samples(board.id)] == [0]


@pytest.mark.qemu
def test_fleet_profile_spreads_the_runs_with_per_layer_medians_per_board(dense, dense_fw, tmp_path):
    store = ResultsStore(tmp_path / "r.db")
    p = run_fleet(ProfileJob(dense, runs=4, project=dense_fw), emulated_boards(BOARD, 2), store=store)
    s = p.summary
    assert s["runs"] == 4 and sum(b["runs"] for b in s["per_board"]) == 4 and s["total_cycles"] > 0
    assert [l["op"] for l in s["layers"]] == ["conv2d", "fully_connected", "fully_connected", "softmax"]
    by_instance = {b["instance"]: b for b in s["per_board"]}
    for run in store.runs(fleet_id=p.run_id):  # each board's run holds its own per-layer medians
        want = [l["cycles"] for l in by_instance[run.instance]["layers"]]
        assert [l.cycles for l in store.layers(run.id)] == want and (not want or min(want) > 0)


@pytest.mark.qemu
def test_fleet_bench_spreads_the_models(tmp_path):
    store = ResultsStore(tmp_path / "r.db")
    dense, conv = tmp_path / "dense.tflite", tmp_path / "conv.tflite"
    dense.write_bytes(ZOO["dense_flatten"]())
    conv.write_bytes(ZOO["conv_per_tensor"]())
    b = run_fleet(BenchJob([dense, conv], samples=2), emulated_boards(BOARD, 2), store=store, workdir=tmp_path / "b")
    assert b.ok and b.summary["models"] == 2 and b.summary["samples"] == 4 and b.summary["mismatches"] == 0
    done = b.outcome.done
    assert sorted(done) == ["conv", "dense"]
    assert all(r["cycles_median"] > 0 and r["flash_bytes"] > 0 for _, r in done.values())
    per_model = [(run.instance, m.tags["model"]) for run in store.runs(fleet_id=b.run_id)
                 for m in store.metrics(run.id, "cycles_median")]
    assert sorted(per_model, key=lambda t: t[1]) == [(done[k][0], k) for k in sorted(done)]


@pytest.mark.qemu
def test_fleet_cli_json_and_report_side_by_side(dense, dense_fw, tmp_path, capsys):
    model, db = tmp_path / "m.tflite", tmp_path / "r.db"
    model.write_bytes(dense)
    code = main(["fleet", "validate", str(model), "--project", str(dense_fw), "--boards", "2", "--samples", "4",
                 "--db", str(db), "--json", str(tmp_path / "f.json")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert f"{BOARD}#0" in out.out and f"{BOARD}#1" in out.out and "bit-exact on every board" in out.out
    assert "\r" not in out.err  # no progress bar outside a terminal
    s = json.loads((tmp_path / "f.json").read_text())
    assert s["items_done"] == 4 and s["boards"] == 2 and s["fleet_run_id"] and len(s["per_board"]) == 2
    assert main(["report", "--db", str(db), "-o", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    section = html[html.index(f'id="fleet-{s["fleet_run_id"]}"'):]
    assert f"{BOARD}#0" in section[:4000] and f"{BOARD}#1" in section[:4000] and "2 boards" in section[:400]


@pytest.mark.qemu
def test_fleet_ports_drives_boards_already_running_the_firmware(dense, dense_fw, tmp_path):
    """--ports with no --method: two boards kept by 'mcuforge flash --listen' (as real boards would be
    attached), reached by their URLs; the fleet checks their firmware hash and spreads the samples."""
    from conftest import default_sigint

    listeners, urls = [], []
    try:
        for _ in range(2):
            p = subprocess.Popen([sys.executable, "-m", "mcuforge", "flash", str(dense_fw), "--listen"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
            listeners.append(p)
            url = next((line.split()[2] for line in p.stdout if line.startswith("listening on ")), None)
            assert url is not None, p.stderr.read()
            urls.append(url)
        store = ResultsStore(tmp_path / "r.db")
        result = run_fleet(ValidateJob(dense, samples=4, project=dense_fw), real_boards(",".join(urls), BOARD),
                           store=store)
        assert result.ok and result.summary["items_done"] == 4
        assert sorted(r.instance for r in store.runs(fleet_id=result.run_id)) == sorted(f"{BOARD}@{u}" for u in urls)
    finally:
        for p in listeners:
            p.send_signal(signal.SIGINT)
            p.wait(30)


@pytest.mark.simavr
def test_fleet_on_simavr_boards_restarts_a_killed_one(dense, tmp_path):
    """The same on simulated Unos: their counts are simulated cycles; a killed simavr comes back."""
    store = ResultsStore(tmp_path / "r.db")
    killed = []
    others_wait = threading.Event()

    def kill_board_0(board, item, target):
        if board.index == 0:
            if not killed:
                killed.append(target.session.proc)
                os.kill(target.session.proc.pid, signal.SIGKILL)
            else:
                others_wait.set()  # board 0 is back: board 1 may go on
        else:
            others_wait.wait(60)

    result = run_fleet(ValidateJob(dense, samples=6), emulated_boards("uno", 2), store=store, on_done=kill_board_0,
                       workdir=tmp_path / "fw")
    s = result.summary
    assert result.ok and s["cycles_kind"] == "simulated-cycles" and s["items_done"] == 6
    assert s["per_board"][0]["restarts"] == 1 and s["per_board"][0]["samples"] >= 2
    owners = _sample_owners(store, result.run_id)
    assert sorted(owners) == list(range(6)) and all(len(v) == 1 for v in owners.values())


@pytest.mark.qemu
def test_ctrl_c_ends_the_fleet_with_130_and_keeps_every_sample_taken(dense, dense_fw, tmp_path):
    from conftest import default_sigint

    model, db = tmp_path / "m.tflite", tmp_path / "r.db"
    model.write_bytes(dense)
    proc = subprocess.Popen([sys.executable, "-m", "mcuforge", "fleet", "validate", str(model), "--project",
                             str(dense_fw), "--boards", "2", "--samples", "100000", "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until both boards have stored samples
            time.sleep(0.5)
            try:
                with ResultsStore(db, readonly=True) as s:
                    runs = [r for r in s.runs(kind="validate") if r.fleet_id]
                    if len(runs) == 2 and all(s.samples(r.id) for r in runs):
                        break
            except ResultsError:  # not made yet, or empty: its schema not yet written (a reader races the writer)
                continue
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    with ResultsStore(db, readonly=True) as s:
        fleet = s.runs(kind="fleet")[0]
        assert fleet.status == "interrupted"
        boards = s.runs(fleet_id=fleet.id)
        assert [r.status for r in boards] == ["interrupted", "interrupted"]
        owners = _sample_owners(s, fleet.id)
        assert owners and all(len(v) == 1 for v in owners.values())
