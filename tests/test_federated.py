"""Federated continual learning through a real Flower SuperLink on loopback: two emulated boards
(QEMU netduinoplus2, the identity-embedding learning firmware of test_learning_support), each its
own SuperNode with its own non-IID share, a few rounds. What the boards return is checked against
the numpy twin of the head (the same stream trained by ``Head``, the same aggregation), so a
wrong byte anywhere in board -> Flower -> aggregate -> board changes the result."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from mcuforge.federated.aggregate import aggregate
from mcuforge.federated.deploy import Deployment
from mcuforge.federated.shares import Share, save_share, split_non_iid
from mcuforge.learning.checkpoint import HeadState
from mcuforge.learning.rules import Head
from test_learning_support import DEFAULTS, MAX_CLASSES, PRETRAINED, Task, build_learning_firmware

pytestmark = pytest.mark.qemu

BOARD = "netduinoplus2"
BUILD_ID = "fede0a7ed0000001"
RULE, LR, BATCH = "tinyol", 0.05, 1


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
    """The federated session in numpy: every board's Head from the global state, then aggregate."""
    task = world["task"]
    head = Head(task.w_init, task.b_init, MAX_CLASSES, DEFAULTS["rule"], DEFAULTS["lr"], DEFAULTS["batch"])
    while head.state.classes < MAX_CLASSES:
        head.add_class()
    glob, out = head.state.to_bytes(), []
    for _ in range(rounds):
        states, counts = [], []
        for share in world["shares"]:
            h = Head.from_state(HeadState.from_bytes(glob), task.w_init, task.b_init)
            h.configure(RULE, LR, BATCH)
            for xi, yi in zip(share.train_x, share.train_y):
                h.train(xi, int(yi))
            states.append(h.state.copy())
            counts.append(share.class_counts(MAX_CLASSES))
        glob = aggregate(HeadState.from_bytes(glob), states, counts, mode).to_bytes()
        out.append(glob)
    return out


def _descendants(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == pid:
                out += [int(entry)] + _descendants(int(entry))
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
                   boards=len(world["paths"]), out=str(out)), timeout=600)
        started = [p.pid for p in d.procs]
    leftovers = [pid for p in started for pid in _descendants(p)]
    assert not leftovers, f"processes left after the deployment stopped: {leftovers}"
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("mode", ["perclass"])
def test_federated_session_through_a_superlink_equals_the_twin(world, tmp_path, mode):
    rounds = run_federation(world, tmp_path, 2, mode)
    want = twin_rounds(world, 2, mode)
    assert [r["round"] for r in rounds] == [1, 2]
    for r, w in zip(rounds, want):
        assert len(r["boards"]) == 2 and not r["failed"]
        assert r["boards_agree"]
        assert bytes.fromhex(r["state"]) == w
        assert r["network_bytes"] > 0 and all(b["serial_bytes"] > 0 for b in r["boards"].values())
    assert rounds[-1]["global"]["accuracy_new"] > 0.5
