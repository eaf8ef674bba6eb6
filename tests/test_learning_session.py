"""The learning session driver on QEMU: it stores every measurement exactly once, and
resumes from its checkpoints when QEMU is killed, the board resets, or the host process
gives up and a later session continues the run. Expected values come from the numpy
reference, which the board matches bit for bit (test_learning_qemu.py)."""
from __future__ import annotations

import numpy as np
import pytest

from mcuforge.learning.rules import Head
from mcuforge.learning.session import (EvalSet, LearningSessionError, LearnPlan, board_opener,
                                       feature_source, run_learning_session)
from mcuforge.results.store import ResultsStore
from test_learning_support import DEFAULTS, MAX_CLASSES, PRETRAINED, Task, build_learning_firmware

pytestmark = pytest.mark.qemu

BOARD = "netduinoplus2"
STEPS = 48
EVAL_EVERY, CHECKPOINT_EVERY = 16, 8
EVAL_STEPS = [0, 16, 32, 48]
BUILD_ID = "5e5510f000000001"  # the firmware hash the board's hello reports


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Firmware plus a fixed task: a stream mixing the 12 old and 4 new classes in random
    order, and a held-out set of 2 samples per class."""
    task = Task(21)
    elf = build_learning_firmware(BOARD, tmp_path_factory.mktemp("learn-session"), task, BUILD_ID).elf
    rng = np.random.default_rng(4)
    labels = rng.permutation(np.concatenate([rng.integers(0, PRETRAINED, 24),
                                             np.repeat(np.arange(PRETRAINED, MAX_CLASSES), 6)]))
    train_x = task.samples(labels)
    eval_y = np.repeat(np.arange(MAX_CLASSES), 2)
    eval_x = task.samples(eval_y)
    stream = [(i, int(y)) for i, y in enumerate(labels)]
    return dict(task=task, elf=elf, stream=stream, train_x=train_x, eval_x=eval_x, eval_y=eval_y)


def expected(world, plan):
    """The uninterrupted session in numpy: predictions per step, accuracies per evaluation,
    final state blob."""
    task = world["task"]
    head = Head(task.w_init, task.b_init, MAX_CLASSES, DEFAULTS["rule"], DEFAULTS["lr"], DEFAULTS["batch"])
    head.configure(plan.rule, plan.lr, plan.batch)
    y = world["eval_y"]

    def evaluate():
        pred = np.array([head.logits(x)[1] for x in world["eval_x"]])
        ok = pred == y
        return {"accuracy_all": ok.mean(), "accuracy_old": ok[y < PRETRAINED].mean(),
                "accuracy_new": ok[y >= PRETRAINED].mean(), "head_bytes": head.rule_bytes(),
                "classes": head.state.classes}

    evals, preds = {0: evaluate()}, {}
    for s, (i, label) in enumerate(world["stream"], 1):
        while head.state.classes <= label:
            head.add_class()
        preds[s] = head.train(world["train_x"][i], label).predicted
        if s in EVAL_STEPS:
            evals[s] = evaluate()
    return preds, evals, head.state.to_bytes()


class Boards:
    """board_opener that remembers the boards it opened, so a test can kill the current one."""

    def __init__(self, elf, **link_options):
        self.open_ = board_opener(elf, BOARD, link_options=link_options or None)
        self.opened = []

    def __call__(self):
        self.opened.append(self.open_())
        return self.opened[-1]

    def kill(self):
        self.opened[-1].session.proc.kill()
        self.opened[-1].session.proc.wait()


def source_with_faults(features, boards, faults: dict):
    """feature_source that, the first time it is asked for sample i in ``faults``, does
    faults[i](boards) first (kill QEMU, reset the board...)."""
    inner = feature_source(features)
    pending = dict(faults)

    def source(link, i):
        if i in pending:
            pending.pop(i)(boards)
        inner(link, i)

    return source


def run(world, store, boards, plan, train_faults=(), eval_faults=(), **kw):
    return run_learning_session(
        boards, store, stream=world["stream"],
        train_source=source_with_faults(world["train_x"], boards, dict(train_faults)),
        eval_set=EvalSet(range(len(world["eval_y"])), world["eval_y"]),
        eval_source=source_with_faults(world["eval_x"], boards, dict(eval_faults)), plan=plan, **kw)


def check_store(store, run_id, plan, preds, evals, final_blob, recoveries):
    """Every step and evaluation recorded exactly once, with the reference's values."""
    r = store.get_run(run_id)
    assert (r.kind, r.status, r.board, r.firmware_hash, r.cycles_kind) == \
        ("learn", "ok", BOARD, BUILD_ID, "emulated-instructions")
    rows = store.samples(run_id)
    assert [row.index for row in rows] == list(range(1, STEPS + 1))
    assert [row.predicted for row in rows] == [preds[s] for s in range(1, STEPS + 1)]
    assert all(row.cycles > 0 for row in rows)
    cycles = store.metrics(run_id, "update_cycles")
    assert sorted(m.step for m in cycles) == list(range(1, STEPS + 1))  # once per step
    assert all(m.tags == {"rule": plan.rule} and m.unit == "emulated-instructions" for m in cycles)
    for name in ("accuracy_all", "accuracy_old", "accuracy_new", "head_bytes", "classes"):
        got = {m.step: m.value for m in store.metrics(run_id, name)}
        assert len(store.metrics(run_id, name)) == len(EVAL_STEPS), name
        assert got == pytest.approx({s: float(evals[s][name]) for s in EVAL_STEPS}, abs=0), name
    ckpts = store.artifacts(run_id, "head-state", with_data=True)
    assert {a.step for a in ckpts} == set(range(0, STEPS + 1, CHECKPOINT_EVERY))
    assert max(ckpts, key=lambda a: a.id).data == final_blob
    assert len(store.artifacts(run_id, "eval-embeddings")) == 1
    assert len(store.metrics(run_id, "recovery")) == recoveries
    assert r.summary["recoveries"] == recoveries


def test_session_records_every_step_and_evaluation(world, tmp_path):
    plan = LearnPlan("cwr", 0.05, batch=4, eval_every=EVAL_EVERY, checkpoint_every=CHECKPOINT_EVERY)
    preds, evals, blob = expected(world, plan)
    with ResultsStore(tmp_path / "r.db") as store:
        result = run(world, store, Boards(world["elf"]), plan, identity={"model_hash": "feedbeef"})
        check_store(store, result.run_id, plan, preds, evals, blob, recoveries=0)
        assert store.get_run(result.run_id).model_hash == "feedbeef"
    assert result.steps == STEPS and result.recoveries == 0
    assert [e["step"] for e in result.evaluations] == EVAL_STEPS
    # the head learnt the new classes on the board
    assert result.final["accuracy_new"] > evals[0]["accuracy_new"] == 0.0
    assert result.final["accuracy_old"] >= 0.75


def test_session_resumes_after_qemu_is_killed(world, tmp_path):
    plan = LearnPlan("tinyol-batch", 0.05, batch=3, eval_every=EVAL_EVERY,
                     checkpoint_every=CHECKPOINT_EVERY)
    preds, evals, blob = expected(world, plan)
    boards = Boards(world["elf"])
    # killed while computing the held-out embeddings, mid-stream twice (one just after an
    # evaluation step's checkpoint would be due), each time between checkpoints
    train_kills = {world["stream"][10][0]: Boards.kill, world["stream"][35][0]: Boards.kill}
    with ResultsStore(tmp_path / "r.db") as store:
        result = run(world, store, boards, plan, train_faults=train_kills,
                     eval_faults={5: Boards.kill})
        check_store(store, result.run_id, plan, preds, evals, blob, recoveries=3)
        assert [m.step for m in store.metrics(result.run_id, "recovery")] == [0, 8, 32]
    assert len(boards.opened) == 4


def test_session_resumes_after_a_board_reset(world, tmp_path):
    plan = LearnPlan("lwf", 0.05, eval_every=EVAL_EVERY, checkpoint_every=CHECKPOINT_EVERY)
    preds, evals, blob = expected(world, plan)
    boards = Boards(world["elf"], timeout=1.0)

    def reset(b):  # the board reboots under the host: its head is back to pretrained
        b.opened[-1].session._monitor("system_reset")

    with ResultsStore(tmp_path / "r.db") as store:
        result = run(world, store, boards, plan, train_faults={world["stream"][20][0]: reset})
        check_store(store, result.run_id, plan, preds, evals, blob, recoveries=1)
        (rec,) = store.metrics(result.run_id, "recovery")
        assert rec.step == 16 and any(k in rec.tags["error"] for k in ("StateLost", "Link", "BoardReset"))


def test_a_later_session_resumes_a_failed_run(world, tmp_path):
    plan = LearnPlan("tinyolv2", 0.05, eval_every=EVAL_EVERY, checkpoint_every=CHECKPOINT_EVERY,
                     max_recoveries=0)
    preds, evals, blob = expected(world, plan)
    with ResultsStore(tmp_path / "r.db") as store:
        with pytest.raises(LearningSessionError, match="board lost 1 times without reaching a new "
                                                       "checkpoint \\(last at step 24\\)"):
            run(world, store, Boards(world["elf"]), plan,
                train_faults={world["stream"][29][0]: Boards.kill})
        (failed,) = store.runs("learn")
        assert failed.status == "failed" and "board lost" in failed.summary["error"]
        assert len(store.samples(failed.id)) == 29  # kept; step 30 never trained
        result = run(world, store, Boards(world["elf"]), plan, run_id=failed.id)
        assert result.run_id == failed.id
        check_store(store, failed.id, plan, preds, evals, blob, recoveries=0)
        assert store.count_runs("learn") == 1


def test_session_refuses_a_bad_plan_or_stream(world, tmp_path):
    with pytest.raises(ValueError, match="unknown learning rule 'adam'"):
        LearnPlan("adam", 0.1).check()
    with pytest.raises(LearningSessionError, match="eval_every must be an integer >= 1"):
        LearnPlan("tinyol", 0.1, eval_every=0).check()
    with pytest.raises(LearningSessionError, match="as many labels as samples"):
        EvalSet([0, 1], [0])
    with ResultsStore(tmp_path / "r.db") as store:
        with pytest.raises(LearningSessionError, match="label 16 does not fit the board's head "
                                                       "\\(16 classes at most\\)"):
            run_learning_session(Boards(world["elf"]), store, stream=[(0, 3), (1, 16)],
                                 train_source=feature_source(world["train_x"]),
                                 eval_set=EvalSet([0], [0]), plan=LearnPlan("tinyol", 0.1))
        (r,) = store.runs("learn")
        assert r.status == "failed"
