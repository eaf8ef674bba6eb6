"""The learning extension on the emulated board: every rule's C against the numpy
reference, class additions, checkpoints across a QEMU restart, and the refusals.

Tolerance: none. mf_head.c and mcuforge.learning.rules perform the same IEEE float32
operations in the same order (own exp, sequential sums, no FMA), so the board's state blob,
its predictions and probabilities must equal the reference's bit for bit."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from mcuforge.flash import open_session
from mcuforge.learning import CheckpointError, HeadState, LearningClient, LearningError
from mcuforge.learning.client import LearnMsg
from mcuforge.learning.rules import RULES, Head
from mcuforge.link import LinkError
from test_learning_support import DEFAULTS, MAX_CLASSES, PRETRAINED, Task, build_learning_firmware

pytestmark = pytest.mark.qemu

TASK_SEED = 11


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    cache = {}

    def get(board="netduinoplus2"):
        if board not in cache:
            cache[board] = build_learning_firmware(board, tmp_path_factory.mktemp(f"learn-{board}"),
                                                   Task(TASK_SEED), "1ea4b0a4d0000001").elf
        return cache[board]

    return get


@pytest.fixture
def board(firmware):
    with open_session(firmware(), "netduinoplus2") as s:
        link = s.link()
        yield link, LearningClient(link)


def reference(rule="tinyol", lr=DEFAULTS["lr"], batch=DEFAULTS["batch"]):
    task = Task(TASK_SEED)
    head = Head(task.w_init, task.b_init, MAX_CLASSES, DEFAULTS["rule"], DEFAULTS["lr"], DEFAULTS["batch"])
    head.configure(rule, lr, batch)
    return head


def embed(link, x):
    link.write_input(0, np.ascontiguousarray(x, dtype=np.float32))
    assert link.invoke()[0] == 0


def drive(link, learn, head, task, steps, add_at=(), rng=None):
    """Train board and reference on the same random stream; every reply must match."""
    rng = rng or np.random.default_rng(0)
    for step in range(steps):
        if step in add_at:
            assert learn.add_class() == head.add_class()
        c = head.state.classes
        y = int(rng.integers(0, c))
        x = task.samples([y])[0]
        embed(link, x)
        got, want = learn.train(y), head.train(x, y)
        assert (got.predicted, got.batch_end, got.p_label) == (want.predicted, want.batch_end,
                                                               want.p_label), f"step {step}"
        assert got.samples == head.state.samples and got.ticks > 0


@pytest.mark.parametrize("board_name", ["netduinoplus2", "mps2-an385"])  # hard and soft float
def test_every_rule_matches_numpy_bit_for_bit(firmware, board_name):
    task = Task(TASK_SEED + 1)
    with open_session(firmware(board_name), board_name) as s:
        link = s.link()
        learn = LearningClient(link)
        for rule in RULES:
            learn.reset()
            cfg = learn.configure(rule, 0.05, 3)
            head = reference(rule, 0.05, 3)
            assert (cfg.rule, cfg.batch) == (rule, head.state.batch)
            assert np.float32(cfg.lr) == np.float32(0.05)
            drive(link, learn, head, task, 26, add_at=(5, 13), rng=np.random.default_rng(rule_seed(rule)))
            blob = learn.read_state()
            assert blob == head.state.to_bytes(), f"{rule}: state blob differs from numpy"
            # predictions of the current embedding and of host-given embeddings
            x = task.samples([13])[0]
            embed(link, x)
            pred = learn.predict()
            best, z, p = head.predict(x)
            assert pred.argmax == best and np.array_equal(pred.logits, z) and np.array_equal(pred.probs, p)
            xs = task.samples(np.arange(14))
            assert list(learn.eval_embeddings(xs)) == [head.logits(v)[1] for v in xs]


def rule_seed(rule):
    return RULES.index(rule) + 100


def test_info_config_and_head_bytes(board):
    link, learn = board
    info = learn.info()
    assert (info.rule, info.classes, info.pretrained, info.max_classes, info.dim) == \
        ("tinyol", PRETRAINED, PRETRAINED, MAX_CLASSES, 128)
    assert info.batch == 1 and np.float32(info.lr) == np.float32(DEFAULTS["lr"])  # header defaults
    assert info.state_bytes == 4 * (16 + 2 * 16 * 128 + 4 * 16) and not info.restoring
    assert info.reserved_bytes > info.state_bytes
    assert learn.config() == learn.configure("tinyol", 0.05, 9)  # per-sample: batch 1
    assert learn.config().batch == 1
    for rule in RULES:
        learn.configure(rule, 0.01, 5)
        head = reference(rule, 0.01, 5)
        for _ in range(2):
            learn.add_class()
            head.add_class()
        got = learn.info()
        assert got.head_bytes == head.rule_bytes() and got.classes == PRETRAINED + 2
        assert got.batch == (5 if rule in ("tinyol-batch", "tinyolv2-batch", "lwf-batch", "cwr") else 1)
        learn.reset()
    sizes = {}
    for rule in RULES:
        learn.configure(rule, 0.01, 5)
        sizes[rule] = learn.info().head_bytes
    matrix = 4 * PRETRAINED * 129
    assert sizes["tinyol"] == sizes["tinyolv2"] == matrix
    assert sizes["tinyol-batch"] == sizes["lwf"] == sizes["lwf-batch"] == 2 * matrix
    assert sizes["cwr"] == 2 * matrix + 8 * PRETRAINED


def test_class_addition_until_full(board):
    link, learn = board
    task = Task(TASK_SEED)
    added = [learn.add_class() for _ in range(MAX_CLASSES - PRETRAINED)]
    assert added == list(range(PRETRAINED, MAX_CLASSES))
    with pytest.raises(LinkError, match="OUT_OF_RANGE for 0x22: head full"):
        learn.add_class()
    embed(link, task.samples([0])[0])
    pred = learn.predict()
    assert len(pred.logits) == MAX_CLASSES
    assert np.all(pred.logits[PRETRAINED:] == 0) and np.all(pred.probs[PRETRAINED:] > 0)
    learn.train(MAX_CLASSES - 1)  # the last class trains
    assert learn.info().samples == 1


def test_checkpoint_restores_identically_after_qemu_restart(firmware):
    task = Task(TASK_SEED + 2)
    xs = task.samples(np.arange(MAX_CLASSES).repeat(2))
    with open_session(firmware(), "netduinoplus2") as s:
        link = s.link()
        learn = LearningClient(link)
        learn.configure("cwr", 0.05, 4)
        head = reference("cwr", 0.05, 4)
        drive(link, learn, head, task, 18, add_at=(0, 7))  # mid-batch: cur counts matter
        blob = learn.read_state()
        before = learn.eval_embeddings(xs)
        embed(link, xs[3])
        pred_before = learn.predict()
    with open_session(firmware(), "netduinoplus2") as s:
        link = s.link()
        learn = LearningClient(link)
        assert learn.info().classes == PRETRAINED  # a fresh board
        learn.write_state(blob)
        info = learn.info()
        assert (info.rule, info.classes, info.samples, info.batch_fill) == ("cwr", 14, 18, 2)
        assert np.array_equal(learn.eval_embeddings(xs), before)
        embed(link, xs[3])
        pred = learn.predict()
        assert np.array_equal(pred.logits, pred_before.logits) and np.array_equal(pred.probs, pred_before.probs)
        assert learn.read_state() == blob
        drive(link, learn, head, task, 10, add_at=(4,), rng=np.random.default_rng(5))
        assert learn.read_state() == head.state.to_bytes()


def test_refusals_name_the_problem(board, fake_firmware):
    link, learn = board
    with pytest.raises(LinkError, match="unknown rule code"):
        link.request(LearnMsg.LEARN_CONFIG, struct.pack("<BfH", 7, 0.1, 1))
    with pytest.raises(ValueError, match="unknown learning rule 'sgd'"):
        learn.configure("sgd", 0.1, 1)  # caught on the host already
    with pytest.raises(LinkError, match="learning rate must be finite and > 0"):
        link.request(LearnMsg.LEARN_CONFIG, struct.pack("<BfH", 0, float("nan"), 1))
    with pytest.raises(LinkError, match="learning rate"):
        learn.configure("tinyol", -0.1, 1)
    with pytest.raises(LinkError, match="batch size must be >= 1"):
        link.request(LearnMsg.LEARN_CONFIG, struct.pack("<BfH", 1, 0.1, 0))
    with pytest.raises(LinkError, match="BAD_LENGTH.*LEARN_CONFIG takes nothing or rule"):
        link.request(LearnMsg.LEARN_CONFIG, b"\x00")
    with pytest.raises(LinkError, match="BAD_INDEX.*label out of range"):
        learn.train(PRETRAINED)
    with pytest.raises(LinkError, match="TRAIN needs a label"):
        link.request(LearnMsg.TRAIN, b"")
    embed(link, np.full(128, np.inf, np.float32))
    with pytest.raises(LinkError, match="non-finite"):
        learn.train(0)
    with pytest.raises(LinkError, match="whole number"):
        link.request(LearnMsg.EVAL_EMBEDDING, bytes(100))
    with pytest.raises(LinkError, match="past the state blob"):
        link.request(LearnMsg.READ_STATE, struct.pack("<IH", 16700, 8))
    assert learn.info().samples == 0  # nothing above touched the state

    good = learn.read_state()
    # a corrupt blob (CRC left stale) is refused by the board, which falls back to pretrained
    learn.configure("lwf", 0.1, 1)
    bad = bytearray(good)
    bad[200] ^= 0x40
    for pos in range(0, len(bad), 1020):
        try:
            link.request(LearnMsg.WRITE_STATE, struct.pack("<I", pos) + bytes(bad[pos:pos + 1020]))
        except LinkError as e:
            assert "checkpoint rejected, head reset: blob CRC mismatch" in str(e)
            assert pos + 1020 >= len(bad)
            break
    else:
        pytest.fail("corrupt blob accepted")
    assert learn.info().rule == "tinyol"  # reset to the header defaults
    with pytest.raises(CheckpointError, match="CRC"):
        learn.write_state(bytes(bad))  # the host refuses before sending
    # a blob of another head (other layout hash), correctly sealed
    other = HeadState.from_bytes(good)
    other.layout ^= 1
    with pytest.raises(LinkError, match="blob is for another head"):
        learn.write_state(other.to_bytes())
    # a restore under way blocks learning until it completes or LEARN_RESET
    link.request(LearnMsg.WRITE_STATE, struct.pack("<I", 0) + good[:64])
    assert learn.info().restoring
    with pytest.raises(LinkError, match="restore under way"):
        learn.train(0)
    with pytest.raises(LinkError, match="offset must continue"):
        link.request(LearnMsg.WRITE_STATE, struct.pack("<I", 128) + good[128:160])
    learn.reset()
    assert not learn.info().restoring
    learn.write_state(good)
    assert learn.read_state() == good

    with open_session(fake_firmware("netduinoplus2").elf, "netduinoplus2") as s:
        with pytest.raises(LearningError, match="has no learning extension"):
            LearningClient(s.link())
