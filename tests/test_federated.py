"""Federated continual learning through a real Flower SuperLink on loopback: two emulated boards
(QEMU netduinoplus2, the identity-embedding learning firmware of test_learning_support), each its
own SuperNode with its own non-IID share, a few rounds. What the boards return is checked against
the library's host twin of the session (``mcuforge.federated.twin``: the same stream trained by the
numpy ``Head``, the same aggregation), so a wrong byte anywhere in board -> Flower -> aggregate ->
board, or in the twin the host sweeps rely on, changes the result."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mcuforge.federated.aggregate import aggregate
from mcuforge.federated.deploy import APP_DIR, Deployment
from mcuforge.federated.shares import Share, save_share, split_non_iid
from mcuforge.federated.twin import BoardHead, federated_rounds
from mcuforge.learning.rules import Head
from test_learning_support import DEFAULTS, MAX_CLASSES, PRETRAINED, Task, build_learning_firmware

pytestmark = pytest.mark.qemu

BOARD = "netduinoplus2"
BUILD_ID = "fede0a7ed0000001"
RULE, LR, BATCH = "tinyol", 0.05, 1
# the shipped app with a fault drill (kill-round/kill-at-step node settings): test scaffolding kept out of mcuforge
FAULT_APP = Path(__file__).parent / "federated_fault_app"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    task = Task(33)
    root = tmp_path_factory.mktemp("federate")
    elf = build_learning_firmware(BOARD, root / "fw", task, BUILD_ID).elf
    rng = np.random.default_rng(5)
    labels = np.concatenate([rng.integers(0, PRETRAINED, 12), np.repeat(np.arange(PRETRAINED, MAX_CLASSES), 5)])
    x = task.samples(labels)
    eval_y = np.repeat(np.arange(MAX_CLASSES), 2)
    eval_x = task.samples(eval_y)
    parts = split_non_iid(labels, PRETRAINED, MAX_CLASSES, boards=2, new_per_board=2, seed=1)
    shares = [Share(x[p], labels[p], eval_x, eval_y, PRETRAINED) for p in parts]
    paths = [save_share(root / f"share{i}.npz", s) for i, s in enumerate(shares)]
    return dict(task=task, elf=elf, shares=shares, paths=paths, root=root)


def twin_rounds(world, rounds: int, mode: str) -> list[bytes]:
    """The federated session on the library's host twin (mcuforge.federated.twin, what
    bench/federate_twin sweeps): every board's round on the numpy Head, the library's aggregate."""
    task = world["task"]
    head = BoardHead(task.w_init, task.b_init, MAX_CLASSES, (DEFAULTS["rule"], DEFAULTS["lr"], DEFAULTS["batch"]))
    return [r["state"].to_bytes() for r in federated_rounds(head, world["shares"], MAX_CLASSES, rounds, RULE, LR,
                                                             BATCH, mode, evaluate=False)]


def _described(pids) -> list[str]:
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as c:
                argv = c.read().replace(b"\0", b" ").decode(errors="replace")
            out.append(f"{pid}: {argv[:120]}")
        except OSError:
            continue
    return out


def run_federation(world, tmp_path, rounds, mode, kill=None):
    out = tmp_path / "rounds.jsonl"
    with Deployment(tmp_path / "deploy") as d:
        d.start_superlink()
        for i, path in enumerate(world["paths"]):
            cfg = dict(firmware=str(world["elf"]), board=BOARD, hash=BUILD_ID, share=str(path))
            if kill and i == 0:
                cfg.update({"kill-round": kill[0], "kill-at-step": kill[1]})
            d.start_supernode(i, cfg)
        d.run(dict(rounds=rounds, rule=RULE, lr=LR, batch=BATCH, classes=MAX_CLASSES, aggregation=mode,
                   boards=len(world["paths"]), out=str(out)), timeout=600, app_dir=FAULT_APP if kill else APP_DIR)
        running = _described(d.processes())
        assert any("qemu" in p or "flwr" in p or "flower" in p for p in running), running  # the check sees them
    leftovers = _described(d.processes())
    assert not leftovers, f"processes left after the deployment stopped: {leftovers}"
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_split_gives_every_board_old_clips_when_a_class_has_fewer_clips_than_boards():
    """2 clips of each of 3 old classes over 4 boards: each class's two one-clip chunks go to the
    boards after the previous class's, so no board is left without old clips (cut from the same
    first holders every class, boards 2 and 3 had none)."""
    labels = np.concatenate([np.repeat(np.arange(3), 2), np.repeat([3, 4], 5)])
    parts = split_non_iid(labels, pretrained=3, classes=5, boards=4, new_per_board=1, seed=0)
    for b, p in enumerate(parts):
        assert (labels[p] < 3).any(), f"board {b} has no old-class clip: {labels[p].tolist()}"
        assert (labels[p] >= 3).any(), f"board {b} has no new keyword: {labels[p].tolist()}"
    everything = np.concatenate(parts)
    assert len(np.unique(everything)) == len(everything)  # no clip on two boards
    assert all((labels[everything] == c).any() for c in range(5))


def test_perclass_averages_each_row_over_the_boards_that_saw_it_and_fedavg_over_samples(world):
    task = world["task"]
    head = Head(task.w_init, task.b_init, MAX_CLASSES)
    while head.state.classes < MAX_CLASSES:
        head.add_class()
    g = head.state
    a, b = g.copy(), g.copy()
    a.w[12], b.w[12], b.w[13] = 1.0, 3.0, 5.0
    ca, cb = np.zeros(MAX_CLASSES), np.zeros(MAX_CLASSES)
    ca[12], cb[12], cb[13] = 1, 3, 2
    pc = aggregate(g, [a, b], [ca, cb], "perclass")
    assert np.allclose(pc.w[12], 2.5) and np.allclose(pc.w[13], 5.0)  # only b saw class 13
    assert np.array_equal(pc.w[:12], g.w[:12])  # rows nobody trained this round: the global head's
    fa = aggregate(g, [a, b], [ca, cb], "fedavg")
    assert np.allclose(fa.w[12], (1 * 1 + 5 * 3) / 6) and np.allclose(fa.w[13], 5 * 5 / 6)
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate(g, [a], [ca], "median")


def test_server_aggregates_replies_in_share_order_not_arrival_order(world):
    """Three boards whose rows cancel (1e30, -1e30, 1): a float sum's rounding depends on its order,
    so aggregate() over the replies as they arrive gives a different global head for some arrival
    orders; the server's aggregate_replies sorts them by share (board2 before board10) first, so
    every arrival order gives the same bytes."""
    from itertools import permutations

    from mcuforge.federated.aggregate import aggregate_replies, share_order

    task = world["task"]
    head = Head(task.w_init, task.b_init, MAX_CLASSES)
    while head.state.classes < MAX_CLASSES:
        head.add_class()
    g = head.state
    states = [g.copy() for _ in range(3)]
    for s, v in zip(states, (1e30, -1e30, 1.0)):
        s.w[12, 0] = v
    counts = [np.eye(MAX_CLASSES)[12] * 4 for _ in states]
    keys = [share_order(f"/x/shares/board{i}.npz", node) for i, node in ((2, 71), (10, 5), (3, 9))]
    assert sorted(keys) == [keys[0], keys[2], keys[1]]
    for mode in ("fedavg", "perclass"):
        plain = {aggregate(g, [states[i] for i in p], [counts[i] for i in p], mode).to_bytes()
                 for p in permutations(range(3))}
        assert len(plain) > 1, f"{mode}: the order did not matter, so this test could not fail"
        ordered = {aggregate_replies(g, [(keys[i], states[i], counts[i]) for i in p], mode).to_bytes()
                   for p in permutations(range(3))}
        assert len(ordered) == 1, mode
        assert ordered == {aggregate(g, [states[i] for i in (0, 2, 1)], [counts[i] for i in (0, 2, 1)], mode).to_bytes()}


def test_federated_session_through_a_superlink_equals_the_twin_and_survives_a_killed_board(world, tmp_path):
    """Board 0's QEMU is killed at step 5 of round 1 (the test app's fault drill around the shipped
    ClientApp): its client opens a fresh board and redoes the round from the same global head, so
    no round loses a board's result."""
    mode = "perclass"
    rounds = run_federation(world, tmp_path, 2, mode, kill=(1, 5))
    want = twin_rounds(world, 2, mode)
    restarts = {r["round"]: sum(b["restarts"] for b in r["boards"].values()) for r in rounds}
    assert restarts == {1: 1, 2: 0}
    assert [r["round"] for r in rounds] == [1, 2]
    for r, w in zip(rounds, want):
        assert len(r["boards"]) == 2 and not r["failed"]
        assert r["boards_agree"]
        assert bytes.fromhex(r["state"]) == w
        assert r["network_bytes"] > 0 and all(b["serial_bytes"] > 0 for b in r["boards"].values())
    assert rounds[-1]["global"]["accuracy_new"] > 0.5


def test_federate_cli_refuses_a_model_that_is_not_a_bnn_by_name(tmp_path):
    import subprocess
    import sys

    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    r = subprocess.run([sys.executable, "-m", "mcuforge", "federate", str(model), "--data", str(tmp_path),
                        "--new", "zero", "--db", str(tmp_path / "r.db")], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "not a BNN .keras" in r.stderr and "Traceback" not in r.stderr


def test_report_plots_federated_accuracy_over_rounds_against_both_baselines(tmp_path):
    from mcuforge.results.report import render_report
    from mcuforge.results.store import ResultsStore

    store = ResultsStore(tmp_path / "r.db")
    run = store.start_run("federate", summary=dict(boards=2, aggregation="perclass", rule="tinyol"))
    for rnd in (1, 2):
        store.add_metric(run, "accuracy_new", 0.4 * rnd, step=rnd, series="federated")
        store.add_metric(run, "accuracy_new", 0.7, step=rnd, series="all-data")
        for b in ("board0", "board1"):
            store.add_metric(run, "accuracy_new", 0.2, step=rnd, series="alone", board=b)
    store.finish_run(run, "ok")
    html = render_report(store)
    assert "Federated learning: accuracy over rounds against the baselines" in html
    assert "2 boards, perclass, tinyol - accuracy new" in html
