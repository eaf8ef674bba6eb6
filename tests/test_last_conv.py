"""Learning below the BNN's head, host side (mcuforge.learning.last_conv): the twin's forward is
the folded network's bit for bit before training, a backbone step lowers the sample's loss, only
the budgeted channels move, the master copy keeps sub-unit steps, the budget refuses with numbers."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from kernel_harness import run_emitted
from mcuforge.learning.last_conv import (BudgetError, LastConvLearner, features_graph, last_conv_op, plan,
                                         update_graph, update_step)
from mcuforge.learning.rules import Head, softmax
from mcuforge.link.errors import LinkError
from mcuforge.model.errors import UnsupportedOpError
from mcuforge.model.keras_bnn import load_bnn_keras, quantize_inputs
from mcuforge.reference.executor import run_graph
from test_bnn_fold import FRAMES, LABELS, MELS, feature_config, random_bnn


@pytest.fixture(scope="module")
def bnn(tmp_path_factory):
    from mcuforge.train.bnn import save_bnn

    rng = np.random.default_rng(16)
    model = random_bnn(rng, (FRAMES, MELS, 1), len(LABELS))
    graph, meta = load_bnn_keras(save_bnn(model, feature_config(), LABELS, tmp_path_factory.mktemp("bnn") / "bnn.keras"))
    clips = [quantize_inputs(rng.normal(0, 1.2, (FRAMES, MELS)).astype(np.float32), meta).reshape(1, FRAMES, MELS, 1)
             for _ in range(6)]
    cut = features_graph(graph)
    return graph, meta, clips, [run_graph(cut, [x])[0] for x in clips]


def test_forward_is_the_folded_network_bit_for_bit(bnn):
    graph, meta, clips, feats = bnn
    lc = LastConvLearner(graph, meta, len(LABELS) + 1, budget_ram=4096)
    for x, f in zip(clips, feats):
        want = run_graph(graph, [x])[0].reshape(-1)
        np.testing.assert_array_equal(lc.embedding(f), want)
        np.testing.assert_array_equal(lc.embedding(f, trained=False), want)


def test_backbone_steps_lower_the_loss_and_move_only_the_slice(bnn):
    graph, meta, _, feats = bnn
    f, label = feats[0], 2
    # the head barely moves (lr 1e-7): the loss falls through the last conv's update alone
    lc = LastConvLearner(graph, meta, len(LABELS), rule="tinyol", lr=1e-7, lr_w=0.5, lr_b=0.5, budget_ram=2048,
                         protect="none")
    def loss():
        return -np.log(softmax(lc.head.logits(lc.embedding(f))[0])[label])
    before = loss()
    for _ in range(5):
        lc.train(f, label)
    assert loss() < before - 1e-3
    frozen = np.setdiff1d(np.arange(lc.w_flash.shape[0]), lc.channels)
    assert frozen.size and 0 < lc.channels.size < lc.w_flash.shape[0]
    np.testing.assert_array_equal(lc.offset[frozen], lc.offset_flash[frozen])
    assert np.any(lc.w.reshape(lc.channels.size, -1) != lc.w_flash[lc.channels]) or np.any(lc.r != 0)
    # the untrained channels' embedding is the folded network's
    np.testing.assert_array_equal(lc.embedding(f)[frozen], lc.embedding(f, trained=False)[frozen])


def test_the_master_copy_keeps_steps_below_half_a_unit(bnn):
    graph, meta, _, feats = bnn
    lc = LastConvLearner(graph, meta, len(LABELS), rule="tinyol", lr=1e-7, lr_w=1e-4, lr_b=1e-9, budget_ram=2048,
                         protect="none")
    lc.train(feats[1], 1)
    assert np.all(lc.w.reshape(lc.channels.size, -1) == lc.w_flash[lc.channels]) and np.any(lc.r != 0)


def test_lwf_teacher_is_the_frozen_backbone(bnn):
    graph, meta, _, feats = bnn
    head_w, head_b = meta["head_W"], meta["head_b"]
    x, other = (LastConvLearner(graph, meta, len(LABELS), budget_ram=2048).embedding(f) for f in feats[:2])
    a, b, c = (Head(head_w, head_b, len(LABELS) + 1, "lwf", 0.05) for _ in range(3))
    for h in (a, b, c):
        h.add_class()
    ea = a.train(x, 4).error
    np.testing.assert_array_equal(b.train(x, 4, teacher=x).error, ea)
    assert not np.array_equal(c.train(x, 4, teacher=other).error, ea)


def test_budget_picks_the_heads_strongest_channels_and_refuses_with_numbers(bnn):
    graph, meta, _, _ = bnn
    w = graph.tensor(last_conv_op(graph).inputs[1])
    p = plan(graph, meta["head_W"], 1500)
    assert p.total <= 1500 and len(p.channels) >= 1
    live = graph.tensor(last_conv_op(graph).inputs[2]).data != 0
    assert not live.all()  # the random BNN has zero gammas: those channels are constants, never trained
    norms = np.where(live, np.linalg.norm(meta["head_W"], axis=0), -1.0)
    assert min(norms[list(p.channels)]) >= max(np.delete(norms, list(p.channels)), default=0)
    assert len(plan(graph, meta["head_W"], 10**7).channels) == live.sum() < w.shape[0]
    with pytest.raises(BudgetError, match=r"RAM budget 100 B does not hold 1 trained channel.*B each"):
        plan(graph, meta["head_W"], 100)
    with pytest.raises(BudgetError, match="replay ring"):
        plan(graph, meta["head_W"], 1500, replay=50)
    with pytest.raises(BudgetError, match="positive"):
        plan(graph, meta["head_W"], 0)


def test_replay_ring_holds_its_stated_entries(bnn):
    graph, meta, _, feats = bnn
    lc = LastConvLearner(graph, meta, len(LABELS), rule="tinyol", budget_ram=8192, protect="replay", replay=2)
    for i, f in enumerate(feats):
        lc.train(f, i % len(LABELS))
    assert len(lc.ring) == 2 and lc.plan.replay == 2 * (feats[0].size * 4 + 1)
    with pytest.raises(ValueError, match="lwf"):
        LastConvLearner(graph, meta, len(LABELS), rule="tinyol", protect="lwf")


def _update_inputs(rng, learner, feats, i):
    """The update's inputs of one step as the learner makes them: an embedding gradient of the
    head's size (random, some large enough to saturate the int8 gradient), the forward output
    and the packed input of a clip."""
    y = learner.conv(learner._signs(feats[i % len(feats)]))
    g = (rng.normal(0, 1, y.shape[1]) * learner.grad_scale * learner.positions * 60).astype(np.float32)
    return [g.reshape(1, -1), y.reshape(learner.update.tensor("output").shape), feats[i % len(feats)]]


def test_update_kernel_c_equals_numpy_on_host(bnn):
    graph, meta, _, feats = bnn
    rng = np.random.default_rng(5)
    lc = LastConvLearner(graph, meta, len(LABELS), rule="tinyol", lr_w=0.3, lr_b=0.3, budget_ram=2048, protect="none")
    op = lc.update.ops[0]
    state = [lc.update.tensor(n).data.copy() for n in ("filter", "residual", "offset")]
    for i in range(4):
        args = _update_inputs(rng, lc, feats, i) + state + [lc.update.tensor("scale").data]
        got = run_emitted(op, lc.update, args)
        want = update_step(lc.update, args[:6])
        for name, a, b in zip(("filter", "residual", "offset"), got, want):
            np.testing.assert_array_equal(a.reshape(b.shape), b, err_msg=f"step {i}: {name}")
        state = want
    assert np.any(state[0] != lc.update.tensor("filter").data) and np.any(state[2] != lc.update.tensor("offset").data)


def test_update_refusals_name_the_problem(bnn):
    graph, meta, _, _ = bnn
    live = np.flatnonzero(graph.tensor(last_conv_op(graph).inputs[2]).data != 0)
    dead = np.flatnonzero(graph.tensor(last_conv_op(graph).inputs[2]).data == 0)
    with pytest.raises(UnsupportedOpError, match="scale is 0"):
        update_graph(graph, [int(dead[0])], 0.1, 0.1, 1e-3)
    with pytest.raises(UnsupportedOpError, match="grad_scale"):
        update_graph(graph, [int(live[0])], 0.1, 0.1, 0.0)
    with pytest.raises(UnsupportedOpError, match="learning_rate"):
        update_graph(graph, [int(live[0])], 0.0, 0.1, 1e-3)


@pytest.mark.qemu
def test_update_kernel_equals_numpy_on_target(bnn, tmp_path):
    """Three steps on netduinoplus2, the trained slice carried in the arena from step to step as
    in the numpy twin's state: bit for bit (integer weights and residuals, float32 offsets)."""
    from mcuforge.reference.executor import initial_state
    from mcuforge.target import open_target

    graph, meta, _, feats = bnn
    rng = np.random.default_rng(6)
    lc = LastConvLearner(graph, meta, len(LABELS), rule="tinyol", lr_w=0.3, lr_b=0.3, budget_ram=2048, protect="none")
    g = lc.update
    state = initial_state(g)
    with open_target(g, "netduinoplus2", workdir=tmp_path) as target:
        for step in range(3):
            xs = _update_inputs(rng, lc, feats, step)
            want = run_graph(g, xs, state)
            got, _ = target.run(xs)
            for name, a, b in zip(g.outputs, got, want):
                np.testing.assert_array_equal(a.reshape(b.shape), b, err_msg=f"step {step}: {name} differs")
    assert np.any(state["filter"] != g.tensor("filter").data) or np.any(state["residual"] != 0)


def test_bench_compares_every_family_on_the_same_stream(bnn, monkeypatch):
    """bench.last_conv's table on a tiny synthetic stream (random feature bits, 4 old + 4 new
    classes): one best row per family and scenario, percentages in range."""
    import bench.last_conv as bl

    graph, meta, _, feats = bnn
    rng = np.random.default_rng(8)
    shape = feats[0].shape
    def split(n):
        y = np.repeat(np.arange(len(LABELS) + 4), n)
        x = rng.integers(0, 2**32, (y.size,) + shape[1:], dtype=np.uint64).astype(np.uint32)  # bits past C: ignored
        return x.reshape(y.size, -1), y
    monkeypatch.setattr(bl, "STREAM", (3, 2))
    monkeypatch.setattr(bl, "HEAD_LRS", (0.01,))
    monkeypatch.setattr(bl, "BACKBONE_LRS", (0.1,))
    F = {"graph": graph, "meta": meta, "pretrained": len(LABELS), "train": split(4), "test": split(2)}
    rows = bl.run(F, budget_ram=8192, progress=False)
    families = ["head-only", "last-conv lwf", "last-conv replay", "last-conv none"]
    assert [r[:2] for r in rows] == [[s, f] for s, _ in bl.SCENARIOS for f in families]
    assert all(0.0 <= float(v.rstrip("%")) <= 100.0 for r in rows for v in r[2:5])
    spread = bl.seed_spread(F, budget_ram=8192, seeds=2)
    assert len(spread) == len(bl.SCENARIOS) * len(bl.PAIRS) * 2 and all(len(r[5].split()) == 2 for r in spread)


@pytest.mark.qemu
def test_board_learns_below_the_head_bit_for_bit_with_the_twin(bnn, tmp_path):
    """The learning firmware with the last_conv extension on netduinoplus2: the board computes the
    features (model cut before the last conv), TRAIN steps the head with LwF (frozen-network
    teacher) and the budgeted slice; logits after every step, the slice (weights, residuals,
    offsets) and a replayed sample's prediction equal the numpy twin's bit for bit."""
    from mcuforge.learning.client import LastConvClient, LearningClient
    from mcuforge.learning.config import model_head
    from mcuforge.learning.last_conv import board_model
    from mcuforge.model.loader import Model
    from mcuforge.target import open_target

    graph, meta, clips, feats = bnn
    max_classes = model_head(meta)[2]
    lc = LastConvLearner(graph, meta, max_classes, rule="lwf", lr=0.05, lr_w=0.3, lr_b=0.3, budget_ram=2048,
                         protect="lwf")
    labels = [0, len(LABELS), 1, len(LABELS) + 1, len(LABELS), 2]
    with open_target(board_model(lc, Model(graph, meta)), "netduinoplus2", workdir=tmp_path) as target:
        learn, below = LearningClient(target.link), LastConvClient(target.link)
        info = below.info()
        assert (info.channels, info.training, info.teacher) == (len(lc.channels), True, True)
        learn.configure("lwf", 0.05, 1)
        lc.head.configure("lwf", 0.05, 1)
        for _ in range(2):
            assert learn.add_class() == lc.head.add_class()
        for i, (x, label) in enumerate(zip(clips, labels)):
            f = target.run([x])[0][0]
            np.testing.assert_array_equal(f.reshape(-1), feats[i].reshape(-1), err_msg=f"clip {i}: features")
            learn.train(label)
            lc.train(feats[i], label)
            np.testing.assert_array_equal(learn.predict().logits, lc.head.logits(lc.embedding(feats[i]))[0],
                                          err_msg=f"step {i}: logits")
        offset, residual, filt = below.read_state()
        np.testing.assert_array_equal(filt, lc.w.reshape(len(lc.channels), -1))
        np.testing.assert_array_equal(residual, lc.r.reshape(len(lc.channels), -1))
        np.testing.assert_array_equal(offset, lc.offset[lc.channels])
        assert np.any(lc.r != 0), "the slice never moved: the test would not see a wrong step"
        below.set_features(feats[0])
        assert learn.predict().argmax == lc.predict(feats[0])
        learn.reset()  # LEARN_RESET also puts the slice back to the flash weights
        np.testing.assert_array_equal(below.read_state()[2], lc.w_flash[lc.channels])
        # head-only on the same firmware: TRAIN leaves the slice alone
        assert below.configure(training=False, teacher=False) == (False, False)
        learn.add_class()
        target.run([clips[0]])
        learn.train(len(LABELS))
        offset, residual, filt = below.read_state()
        assert not residual.any() and np.array_equal(filt, lc.w_flash[lc.channels])
        with pytest.raises(LinkError, match="past the slice state"):
            below.link.request(0x2E, struct.pack("<IH", info.state_bytes, 1))
        with pytest.raises(LinkError, match="training and teacher as 0 or 1"):
            below.link.request(0x2C, bytes([2, 0]))


@pytest.mark.qemu
def test_bench_board_sessions_equal_their_twins(bnn, monkeypatch, tmp_path):
    """bench.last_conv --board-session on a tiny synthetic stream: head-only and head + last conv
    sessions on netduinoplus2 predict every test sample as their twins do."""
    import bench.last_conv as bl

    graph, meta, _, feats = bnn
    rng = np.random.default_rng(9)
    shape = feats[0].shape
    def split(n):
        y = np.repeat(np.arange(len(LABELS) + 2), n)
        x = rng.integers(0, 2**32, (y.size,) + shape[1:], dtype=np.uint64).astype(np.uint32)
        return x.reshape(y.size, -1), y
    monkeypatch.setattr(bl, "STREAM", (3, 2))
    F = {"graph": graph, "meta": meta, "pretrained": len(LABELS), "train": split(4), "test": split(2)}
    rows = bl.board_session(F, budget_ram=2048, n_new=2, workdir=tmp_path, progress=False)
    assert [r[1] for r in rows] == ["head-only", "head + last conv, lwf"]
    assert all(r[5] == f"{2 * (len(LABELS) + 2)}/{2 * (len(LABELS) + 2)}" for r in rows), rows
    assert rows[0][7] == "-" and int(rows[1][7].split()[0].replace(",", "")) > 0


@pytest.mark.qemu
def test_a_session_below_the_head_resumes_with_its_slice(bnn, tmp_path):
    """run_learning_session with train_backbone on netduinoplus2, QEMU killed twice mid-stream (the
    first time the session gives up and a later one resumes the run from the store, the second
    time it recovers itself): every checkpoint holds the slice (WRITE_LAST_CONV puts it back after the head), held-out
    features are replayed through the current slice, so every step's prediction, every evaluation
    and the final slice equal the uninterrupted twin's; a plan that does not match the firmware is
    refused by name."""
    from mcuforge.learning.client import parse_slice_state
    from mcuforge.learning.config import model_head
    from mcuforge.learning.keywords import prepare_firmware
    from mcuforge.learning.last_conv import board_model
    from mcuforge.learning.session import (SLICE_ARTIFACT, BoardLost, EvalSet, LearningSessionError, LearnPlan,
                                           features_replay_source, run_learning_session)
    from mcuforge.model.loader import Model
    from mcuforge.results.store import ResultsStore
    from test_learning_session import Boards

    graph, meta, _, feats = bnn
    max_classes, pretrained = model_head(meta)[2], len(LABELS)
    rng = np.random.default_rng(12)
    shape = feats[0].reshape(-1).shape
    labels = rng.permutation(np.concatenate([rng.integers(0, pretrained, 8), np.repeat([pretrained, pretrained + 1], 6)]))
    train_x = rng.integers(0, 2**32, (labels.size,) + shape, dtype=np.uint64).astype(np.uint32)
    eval_y = np.repeat(np.arange(pretrained + 2), 1)
    eval_x = rng.integers(0, 2**32, (eval_y.size,) + shape, dtype=np.uint64).astype(np.uint32)
    rule, lr, every = "lwf", 0.05, 5

    def twin():
        return LastConvLearner(graph, meta, max_classes, rule=rule, lr=lr, lr_w=0.3, lr_b=0.3, budget_ram=2048,
                               protect="lwf")
    lc = twin()
    lc.head.configure(rule, lr, 8)
    preds, evals = [], {}
    for s, (x, y) in enumerate(zip(train_x, labels), 1):
        while lc.head.state.classes <= y:
            lc.head.add_class()
        preds.append(lc.predict(x))
        lc.train(x, int(y))
        if s % every == 0 or s == labels.size:
            evals[s] = float(np.mean([lc.predict(f) == y for f, y in zip(eval_x, eval_y)]))
    assert np.any(lc.r != 0)

    project = prepare_firmware(board_model(twin(), Model(graph, meta)), "netduinoplus2", tmp_path / "fw")
    boards = Boards(project.path)
    pending = {7: Boards.kill, 16: Boards.kill}
    replay = features_replay_source(train_x)

    def source(link, i):
        if i in pending:
            pending.pop(i)(boards)
        replay(link, i)

    plan = LearnPlan(rule, lr, eval_every=every, checkpoint_every=3, train_backbone=True)
    stream = [(int(i), int(y)) for i, y in enumerate(labels)]
    eval_set = EvalSet(range(eval_y.size), eval_y)
    with ResultsStore(tmp_path / "r.db") as store:
        with pytest.raises(BoardLost):
            run_learning_session(boards, store, stream=stream, train_source=source, eval_set=eval_set,
                                 eval_source=features_replay_source(eval_x),
                                 plan=LearnPlan(rule, lr, eval_every=every, checkpoint_every=3, train_backbone=True,
                                                max_recoveries=0))
        first = store.runs(kind="learn")[0].id
        result = run_learning_session(boards, store, stream=stream, train_source=source, eval_set=eval_set,
                                      eval_source=features_replay_source(eval_x), plan=plan, run_id=first)
        assert result.recoveries == 1 and len(boards.opened) == 3
        rows = store.samples(result.run_id)
        assert [r.predicted for r in rows] == preds
        got = {m.step: m.value for m in store.metrics(result.run_id, "accuracy_all") if m.step > 0}
        assert got == evals
        last = max(store.artifacts(result.run_id, SLICE_ARTIFACT, with_data=True), key=lambda a: (a.step, a.id))
        assert last.step == labels.size
        offset, residual, filt = parse_slice_state(last.data, len(lc.channels), lc.in_c)
        np.testing.assert_array_equal(filt, lc.w.reshape(len(lc.channels), -1))
        np.testing.assert_array_equal(residual, lc.r.reshape(len(lc.channels), -1))
        np.testing.assert_array_equal(offset, lc.offset[lc.channels])
        with pytest.raises(LearningSessionError, match="train_backbone=False"):
            run_learning_session(Boards(project.path), store, stream=stream, train_source=source, eval_set=eval_set,
                                 plan=LearnPlan(rule, lr))
