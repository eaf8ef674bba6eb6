"""Requests with out-of-range fields, corrupted checkpoints and broken memory guards, on the
emulated board: each is answered with its error code, never a write outside its buffer, and
the board answers correctly afterwards. The firmware is the fuzz model (tests/fuzz/) with the
core, frontend and learning handlers, the same code the host fuzz target runs."""
from __future__ import annotations

import struct

import numpy as np
import pytest

import fuzz_firmware as F
from conftest import make_fake_project
from mcuforge.flash import open_session
from mcuforge.learning import HeadState, LearningClient
from mcuforge.learning.rules import Head
from mcuforge.link import DeviceOverflow, LinkError
from mcuforge.link import protocol as P

pytestmark = pytest.mark.qemu

BOARD = "netduinoplus2"
E = P.ErrorCode
N_IN0 = F.feature_config().n_frames * F.feature_config().n_mels


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    dest = tmp_path_factory.mktemp("bounds-fw")
    F.write_configs(dest)
    return make_fake_project(BOARD, dest, build_id=F.BUILD_ID, extensions=["frontend", "learning"],
                             model_c=(F.FUZZ_DIR / "fuzz_model.c").read_text()).elf


@pytest.fixture
def board(firmware):
    with open_session(firmware, BOARD) as s:
        link = s.link(expected_hash=F.BUILD_ID)
        yield link, LearningClient(link)


def reference_blob() -> bytes:
    return Head(*F.head_init(), F.MAX_CLASSES, **F.HEAD_DEFAULTS).state.to_bytes()


def inputs(seed: int, hook: int = 0):
    rng = np.random.default_rng(seed)
    x1 = rng.integers(-3000, 3000, 4, dtype=np.int16)
    if hook:
        x1[:2] = [0x0A0A, hook]
    return [rng.integers(-128, 128, N_IN0, dtype=np.int8), x1]


def expected(x0, x1):
    """tests/fuzz/fuzz_model.c in numpy."""
    emb = np.array([x0[k::F.DIM].astype(np.int64).sum() for k in range(F.DIM)], np.float32) / np.float32(128)
    return [emb, np.array([x0.astype(np.int64).sum() + x1.astype(np.int64).sum()], np.int32)]


def check_answers(link, seed):
    x = inputs(seed)
    outs, _ = link.run(x)
    for got, want in zip(outs, expected(*x)):
        assert np.array_equal(got, want)


def refused(link, type_, payload=b"") -> int:
    """The error code the board answers a request with (it must answer with one)."""
    before = len(link.stats.device_errors)
    with pytest.raises(LinkError):
        link.request(type_, payload)
    assert len(link.stats.device_errors) == before + 1, "no ERROR reply"
    return link.stats.device_errors[-1].code


def u32(*v):
    return struct.pack(f"<{len(v)}I", *v)


def test_out_of_range_fields_get_error_codes_and_nothing_else_changes(board):
    link, learn = board
    check_answers(link, 1)
    blob = reference_blob()
    state = len(blob)
    values = F.feature_config().n_frames * F.feature_config().n_mels
    mp = link.hello().max_payload
    cases = [
        # tensor index, offset, length (core)
        (P.Msg.WRITE_INPUT, P.write_input_payload(2, 0, b"x"), E.BAD_INDEX),
        (P.Msg.WRITE_INPUT, P.write_input_payload(255, 0, b"x"), E.BAD_INDEX),
        (P.Msg.WRITE_INPUT, P.write_input_payload(0, 0xFFFFFFFF, b"x"), E.OUT_OF_RANGE),
        (P.Msg.WRITE_INPUT, P.write_input_payload(0, N_IN0 - 1, b"xy"), E.OUT_OF_RANGE),
        (P.Msg.WRITE_INPUT, P.write_input_payload(1, 0xFFFFFFF8, bytes(16)), E.OUT_OF_RANGE),
        (P.Msg.WRITE_INPUT, b"\x00\x00\x00", E.BAD_LENGTH),
        (P.Msg.READ_OUTPUT, P.read_output_payload(2, 0, 4), E.BAD_INDEX),
        (P.Msg.READ_OUTPUT, P.read_output_payload(0, 0xFFFFFFF0, 32), E.OUT_OF_RANGE),
        (P.Msg.READ_OUTPUT, P.read_output_payload(1, 0, 0xFFFF), E.OUT_OF_RANGE),
        (P.Msg.READ_OUTPUT, P.read_output_payload(0, 4 * F.DIM, 1), E.OUT_OF_RANGE),
        (P.Msg.READ_PROFILE, P.read_profile_payload(3), E.OUT_OF_RANGE),
        (P.Msg.READ_PROFILE, P.read_profile_payload(0xFFFF), E.OUT_OF_RANGE),
        # class index, learning config
        (0x23, bytes([F.PRETRAINED]), E.BAD_INDEX),
        (0x23, b"\xff", E.BAD_INDEX),
        (0x20, struct.pack("<BfH", 7, 0.1, 1), E.OUT_OF_RANGE),
        (0x20, struct.pack("<BfH", 1, float("nan"), 2), E.OUT_OF_RANGE),
        (0x20, struct.pack("<BfH", 1, -1.0, 2), E.OUT_OF_RANGE),
        (0x20, struct.pack("<BfH", 1, 0.1, 0), E.OUT_OF_RANGE),
        (0x25, bytes(4 * F.DIM + 4), E.BAD_LENGTH),
        (0x2A, bytes(4 * F.DIM - 4), E.BAD_LENGTH),
        (0x2A, np.full(F.DIM, np.inf, "<f4").tobytes(), E.OUT_OF_RANGE),
        # checkpoint offsets and lengths
        (0x27, struct.pack("<IH", state + 1, 1), E.OUT_OF_RANGE),
        (0x27, struct.pack("<IH", state - 4, 8), E.OUT_OF_RANGE),
        (0x27, struct.pack("<IH", 0xFFFFFFFF, 2), E.OUT_OF_RANGE),
        (0x27, struct.pack("<IH", 0, 0xFFFF), E.OUT_OF_RANGE),
        (0x28, u32(8) + bytes(8), E.OUT_OF_RANGE),  # does not continue a restore
        (0x28, u32(0) + bytes(mp - 4), E.OUT_OF_RANGE) if mp - 4 > state else None,
        # chunk offsets (frontend)
        (0x12, u32(0) + bytes(8), E.OUT_OF_RANGE),  # no clip open
        (0x11, b"", None),
        (0x12, u32(1000) + bytes(8), E.OUT_OF_RANGE),  # a gap
        (0x12, u32(0xFFFFFFFF) + bytes(8), E.OUT_OF_RANGE),
        (0x12, u32(0) + bytes(7), E.BAD_LENGTH),
        (0x14, struct.pack("<IH", values, 1), E.OUT_OF_RANGE),
        (0x14, struct.pack("<IH", 0xFFFFFFFF, 2), E.OUT_OF_RANGE),
        (0x14, struct.pack("<IH", 0, mp // 4 + 1), E.OUT_OF_RANGE),
    ]
    for case in filter(None, cases):
        type_, payload, code = case
        if code is None:
            link.request(type_, payload)
            continue
        assert refused(link, type_, payload) == code, (hex(type_), payload.hex())
    for _ in range(F.MAX_CLASSES - F.PRETRAINED):
        learn.add_class()
    assert refused(link, 0x22) == E.OUT_OF_RANGE  # head full
    learn.reset()
    # nothing outside the buffers changed: the learning state is the pretrained blob byte for
    # byte, the model still computes, the guards are intact, no request needed a resend
    assert learn.read_state() == blob
    check_answers(link, 2)
    h = link.hello(refresh=True)
    assert h.guard == 0 and 0 < h.stack_high_water < h.stack_bytes == 8192
    assert link.ping(b"still here") == b"still here" and link.stats.retries == 0


def write_state_raw(link, blob: bytes) -> bytes:
    """WRITE_STATE chunks as they are (no host-side check): -> the last reply's payload."""
    chunk = link.hello().max_payload - 4
    for pos in range(0, len(blob), chunk):
        reply = link.request(0x28, u32(pos) + blob[pos:pos + chunk]).payload
    return reply


# Each device-side check of a restored blob (mf_head_validate), a blob resealed with a valid
# CRC after one field was corrupted: the board refuses it by name and resets its head.
CORRUPTIONS = {
    "unknown rule": (dict(rule=7), "unknown rule"),
    "lr zero": (dict(lr=np.float32(0)), "bad lr or batch"),
    "lr nan": (dict(lr=np.float32("nan")), "bad lr or batch"),
    "lr inf": (dict(lr=np.float32("inf")), "bad lr or batch"),
    "batch zero": (dict(rule=1, batch=0), "bad lr or batch"),
    "batch of a per-sample rule": (dict(rule=0, batch=2), "bad lr or batch"),
    "classes over max_classes": (dict(classes=F.MAX_CLASSES + 1), "inconsistent class or batch"),
    "classes under pretrained": (dict(classes=F.PRETRAINED - 1), "inconsistent class or batch"),
    "frozen over classes": (dict(rule=4, frozen_classes=F.PRETRAINED + 1), "inconsistent class or batch"),
    "batch_fill at batch": (dict(rule=1, batch=3, batch_fill=3), "inconsistent class or batch"),
    "other head": (dict(layout=0x12345678), "another head"),
    "other dims": (dict(dim=F.DIM + 1), "another head"),
}


def test_each_check_on_a_restored_checkpoint_refuses_its_corruption(board):
    link, learn = board
    good = reference_blob()
    assert learn.read_state() == good
    for name, (fields, reason) in CORRUPTIONS.items():
        s = HeadState.from_bytes(good)
        for k, v in fields.items():
            setattr(s, k, v)
        with pytest.raises(LinkError, match=f"checkpoint rejected, head reset: .*{reason}"):
            write_state_raw(link, s.to_bytes(seal=True))
        assert link.stats.device_errors[-1].code == E.OUT_OF_RANGE, name
        info = learn.info()
        assert not info.restoring and info.classes == F.PRETRAINED, name
        assert learn.read_state() == good, f"{name}: the head was not reset to pretrained"
    # a stale CRC and a bad magic are refused too; the good blob still restores
    bad = bytearray(good)
    bad[-1] ^= 1
    with pytest.raises(LinkError, match="CRC mismatch"):
        write_state_raw(link, bytes(bad))
    with pytest.raises(LinkError, match="bad magic"):
        write_state_raw(link, b"XXXX" + good[4:])
    trained = Head(*F.head_init(), F.MAX_CLASSES, **F.HEAD_DEFAULTS)
    trained.configure("tinyol-batch", 0.1, 3)
    trained.add_class()
    blob = trained.state.to_bytes()
    assert write_state_raw(link, blob) == b"\x01" + u32(len(blob))
    assert learn.read_state() == blob


def test_guards_report_stack_use_and_arena_and_stack_overflows(board):
    link, _ = board
    h = link.hello(refresh=True)
    assert h.stack_bytes == 8192 and 0 < h.stack_high_water < 2048 and h.guard == 0
    # a 2 KB local array in one invoke: the high-water mark passes 2 KB, no error
    link.run(inputs(3, hook=0x0D0D))
    deep = link.hello(refresh=True)
    assert deep.stack_high_water > 2048 > h.stack_high_water and deep.guard == 0
    # one byte written past the arena: that INVOKE is an error, not an answer, and stays one
    link.write_input(1, inputs(4, hook=0x0F0F)[1])
    with pytest.raises(DeviceOverflow, match="arena overflow: a layer wrote past the end"):
        link.invoke()
    assert link.hello(refresh=True).guard == P.GUARD_ARENA_BROKEN
    link.write_input(1, inputs(4)[1])
    with pytest.raises(DeviceOverflow, match="arena overflow"):
        link.invoke()
    assert link.ping(b"alive") == b"alive"


def test_stack_reaching_its_end_is_an_overflow(board):
    link, _ = board
    with pytest.raises(DeviceOverflow, match="stack overflow"):
        link.run(inputs(5, hook=0x0B0B))
    h = link.hello(refresh=True)
    assert h.guard == P.GUARD_STACK_BROKEN and h.stack_high_water == h.stack_bytes - 4
