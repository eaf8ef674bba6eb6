"""Host side of the learning extension's link messages (docs/protocol.md, "Learning").

    learn = LearningClient(link)
    learn.configure("tinyol", lr=0.01, batch=8)
    link.write_input(0, features); link.invoke()      # the board computes the embedding
    reply = learn.train(label)                        # the head learns from it

Device-side refusals (label out of range, head full, unknown rule...) raise
``mcuforge.link.LinkError`` carrying the device's message.
"""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import numpy as np

from ..link import LinkError, ReplyLost
from .checkpoint import CheckpointError, HeadState, blob_crc
from .rules import RULES, rule_code


class LearnMsg(enum.IntEnum):
    LEARN_CONFIG = 0x20
    LEARN_INFO = 0x21
    ADD_CLASS = 0x22
    TRAIN = 0x23
    PREDICT = 0x24
    EVAL_EMBEDDING = 0x25
    STATE_INFO = 0x26
    READ_STATE = 0x27
    WRITE_STATE = 0x28
    LEARN_RESET = 0x29
    SET_EMBEDDING = 0x2A


class LearningError(LinkError):
    """The board cannot do what the host asked (no learning extension, bad reply)."""


_CONFIG = struct.Struct("<BfH")
_INFO = struct.Struct("<BBBBHHfIHBBIII")
_TRAIN = struct.Struct("<BBIfQ")
_STATE_INFO = struct.Struct("<IHII")
_WRITE_REPLY = struct.Struct("<BI")


@dataclass(frozen=True)
class LearnConfig:
    rule: str
    lr: float
    batch: int  # effective: 1 for the per-sample rules


@dataclass(frozen=True)
class LearnInfo:
    rule: str
    classes: int
    pretrained: int
    max_classes: int
    dim: int
    batch: int
    lr: float
    samples: int         # trained since the rule was configured
    batch_fill: int
    frozen_classes: int  # rows of the lwf frozen copy
    restoring: bool      # a WRITE_STATE restore is under way
    head_bytes: int      # RAM the rule's head state takes at the current class count
    reserved_bytes: int  # RAM the extension reserves (state for max_classes + scratch)
    state_bytes: int     # size of the checkpoint blob


@dataclass(frozen=True)
class TrainReply:
    predicted: int   # prediction before the update
    batch_end: bool  # this sample closed a batch
    samples: int     # device's sample counter after this one
    p_label: float   # probability of the label before the update
    ticks: int       # cycle-counter ticks of the step (see Link.cycle_scale)


@dataclass(frozen=True)
class Prediction:
    argmax: int
    logits: np.ndarray
    probs: np.ndarray


@dataclass(frozen=True)
class StateInfo:
    size: int
    version: int
    layout: int
    crc: int


def _unpack(s: struct.Struct, payload: bytes, what: str) -> tuple:
    if len(payload) != s.size:
        raise LearningError(f"{what} reply has {len(payload)} bytes, expected {s.size}")
    return s.unpack(payload)


def read_chunked(link, msg: enum.IntEnum, size: int) -> bytes:
    """``size`` bytes read with ``msg`` (request ``offset u32, length u16``), one payload at a time."""
    blob, chunk = bytearray(), link.hello().max_payload
    while len(blob) < size:
        n = min(chunk, size - len(blob))
        data = link.request(msg, struct.pack("<IH", len(blob), n)).payload
        if len(data) != n:
            raise LearningError(f"{msg.name} returned {len(data)} bytes, asked {n}")
        blob += data
    return bytes(blob)


def write_chunked(link, msg: enum.IntEnum, data: bytes) -> None:
    """``data`` written with ``msg`` (request ``offset u32, bytes``), one payload at a time."""
    chunk = link.hello().max_payload - 4
    for pos in range(0, len(data), chunk):
        link.request(msg, struct.pack("<I", pos) + data[pos:pos + chunk])


class LearningClient:
    """The learning messages on a connected ``Link``."""

    def __init__(self, link):
        self.link = link
        types = link.hello().message_types
        if LearnMsg.TRAIN not in types:
            raise LearningError(f"{link.url}: firmware {link.hello().firmware_hash!r} has no learning "
                                f"extension (message types {[hex(t) for t in types]}); build it with "
                                f"extensions=['learning']")

    def _request(self, msg: LearnMsg, payload: bytes = b"", **kw) -> bytes:
        return self.link.request(msg, payload, **kw).payload

    # ---- configuration -------------------------------------------------------------------
    def configure(self, rule: str | int, lr: float, batch: int = 1) -> LearnConfig:
        """Select the rule; clears its state (batch sums, counters, frozen copy / CW taken
        from the current head) but keeps the weights and classes. -> effective config."""
        if not 1 <= int(batch) <= 0xFFFF:
            raise ValueError(f"batch size must be in 1..65535, got {batch}")
        return self._config(self._request(LearnMsg.LEARN_CONFIG,
                                          _CONFIG.pack(rule_code(rule), float(lr), int(batch))))

    def config(self) -> LearnConfig:
        return self._config(self._request(LearnMsg.LEARN_CONFIG))

    @staticmethod
    def _config(payload: bytes) -> LearnConfig:
        code, lr, batch = _unpack(_CONFIG, payload, "LEARN_CONFIG")
        return LearnConfig(RULES[code] if code < len(RULES) else f"rule {code}", lr, batch)

    def info(self) -> LearnInfo:
        f = _unpack(_INFO, self._request(LearnMsg.LEARN_INFO), "LEARN_INFO")
        rule = RULES[f[0]] if f[0] < len(RULES) else f"rule {f[0]}"
        return LearnInfo(rule, f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], bool(f[10]),
                         f[11], f[12], f[13])

    def reset(self) -> None:
        """Back to the pretrained head and the firmware's default rule."""
        self._request(LearnMsg.LEARN_RESET)

    def add_class(self) -> int:
        """A new zero row; -> its class index."""
        payload = self._request(LearnMsg.ADD_CLASS)
        if len(payload) != 1:
            raise LearningError(f"ADD_CLASS reply has {len(payload)} bytes, expected 1")
        return payload[0]

    # ---- learning and predicting -----------------------------------------------------------
    def train(self, label: int) -> TrainReply:
        """One update from the embedding the last INVOKE left in output 0."""
        if not 0 <= int(label) <= 255:
            raise ValueError(f"label {label} is not a class index (0..255)")
        pred, end, samples, p_label, ticks = _unpack(
            _TRAIN, self._request(LearnMsg.TRAIN, bytes([int(label)])), "TRAIN")
        return TrainReply(pred, bool(end), samples, p_label, ticks)

    def predict(self) -> Prediction:
        payload = self._request(LearnMsg.PREDICT)
        if len(payload) < 2 or len(payload) != 2 + 8 * payload[0]:
            raise LearningError(f"PREDICT reply of {len(payload)} bytes does not hold its classes")
        c = payload[0]
        values = np.frombuffer(payload, "<f4", count=2 * c, offset=2).astype(np.float32)
        return Prediction(payload[1], values[:c], values[c:])

    def set_embedding(self, x: np.ndarray) -> None:
        """Put an embedding this firmware computed earlier into model output 0 (replay before TRAIN)."""
        self._request(LearnMsg.SET_EMBEDDING, np.ascontiguousarray(x, dtype="<f4").reshape(-1).tobytes())

    def eval_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """argmax of the board's head for each row of ``embeddings`` [n, dim] (float32)."""
        x = np.ascontiguousarray(embeddings, dtype="<f4")
        if x.ndim != 2:
            raise ValueError(f"embeddings must be [n, dim], got shape {x.shape}")
        per = self.link.hello().max_payload // (4 * x.shape[1])
        if per < 1:
            raise LearningError(f"one embedding of {x.shape[1]} floats exceeds the board's max payload "
                                f"{self.link.hello().max_payload}")
        out = []
        for i in range(0, len(x), per):
            chunk = x[i:i + per]
            reply = self._request(LearnMsg.EVAL_EMBEDDING, chunk.tobytes())
            if len(reply) != len(chunk):
                raise LearningError(f"EVAL_EMBEDDING answered {len(reply)} predictions for {len(chunk)}")
            out += list(reply)
        return np.array(out, dtype=np.int64)

    # ---- checkpoints ------------------------------------------------------------------------
    def state_info(self) -> StateInfo:
        """Seals the device's state blob (writes its CRC) and describes it."""
        return StateInfo(*_unpack(_STATE_INFO, self._request(LearnMsg.STATE_INFO), "STATE_INFO"))

    def read_state(self) -> bytes:
        """The full learning state as a checkpoint blob (checked against its CRC)."""
        info = self.state_info()
        blob = read_chunked(self.link, LearnMsg.READ_STATE, info.size)
        got = HeadState.from_bytes(blob, check_crc=False).crc
        if got != info.crc or blob_crc(blob) != info.crc:
            raise CheckpointError(f"state read back with CRC 0x{blob_crc(blob):08x}, the board sealed "
                                  f"0x{info.crc:08x}: it changed while being read")
        return blob

    def _write_state_chunk(self, pos: int, data: bytes, last: bool) -> tuple[int, int]:
        """One WRITE_STATE chunk. Offsets must follow on, so a chunk whose reply was lost is
        sent again and a refusal to take it at ``pos`` means the first copy arrived."""
        payload = struct.pack("<I", pos) + data
        try:
            return _unpack(_WRITE_REPLY, self._request(LearnMsg.WRITE_STATE, payload, resend_unanswered=False),
                           "WRITE_STATE")
        except ReplyLost:
            pass
        seen = len(self.link.stats.device_errors)
        try:
            return _unpack(_WRITE_REPLY, self._request(LearnMsg.WRITE_STATE, payload), "WRITE_STATE")
        except LinkError:
            err = self.link.stats.device_errors[seen:]
            if pos == 0 or not err or "must continue" not in err[-1].message:
                raise
        if last and self.info().restoring:
            raise LearningError("board did not complete the restore after the last chunk")
        return (1 if last else 0), pos + len(data)

    def write_state(self, blob: bytes) -> None:
        """Restore a blob from read_state(); the board validates it when the last byte arrives
        and refuses (resetting its head) a blob for another head or a corrupt one."""
        blob = bytes(blob)
        HeadState.from_bytes(blob)  # catch a wrong or corrupt blob before touching the board
        chunk = self.link.hello().max_payload - 4
        done = None
        for pos in range(0, len(blob), chunk):
            done = self._write_state_chunk(pos, blob[pos:pos + chunk], last=pos + chunk >= len(blob))
        if done is None or done != (1, len(blob)):
            raise LearningError(f"board did not complete the restore (last reply {done}, blob "
                                f"{len(blob)} bytes): its state blob has another size")


class LastConvMsg(enum.IntEnum):
    LAST_CONV_INFO = 0x2B
    LAST_CONV_CONFIG = 0x2C
    SET_FEATURES = 0x2D
    READ_LAST_CONV = 0x2E
    WRITE_LAST_CONV = 0x2F


_LC_INFO = struct.Struct("<HHHHBBII")


@dataclass(frozen=True)
class LastConvInfo:
    out_c: int
    in_c: int
    positions: int
    channels: int      # rows of the trained slice
    training: bool     # TRAIN steps the slice
    teacher: bool      # LwF's teacher is the frozen network's embedding
    ram_bytes: int     # what the extension keeps in RAM (slice, kept ReLU bits, scratch)
    state_bytes: int   # the slice: float32 offsets, int16 residuals, int8 weights


def parse_slice_state(blob: bytes, channels: int, in_c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``mf_last_conv_state`` blob (READ_LAST_CONV, a checkpoint's ``last-conv-state``) as
    (offset [n] float32, residual [n, C] int16, filter [n, C] int8)."""
    n, c = channels, in_c
    # the C struct's fields in order; an odd row length leaves tail padding up to its 4-byte alignment
    need = n * (4 + 3 * c)
    if not need <= len(blob) < need + 4:
        raise LearningError(f"slice state of {len(blob)} B does not hold {n} rows of {c} weights ({need} B)")
    offset = np.frombuffer(blob, "<f4", n).astype(np.float32)
    residual = np.frombuffer(blob, "<i2", n * c, 4 * n).reshape(n, c).astype(np.int16)
    filt = np.frombuffer(blob, "i1", n * c, 4 * n + 2 * n * c).reshape(n, c).astype(np.int8)
    return offset, residual, filt


class LastConvClient:
    """The ``last_conv`` extension's messages (docs/protocol.md): learning below the head, where
    TRAIN also steps a slice of the BNN's last conv (``mcuforge.learning.last_conv``)."""

    MESSAGE = LastConvMsg.SET_FEATURES  # in HELLO's message types: the firmware has the extension

    def __init__(self, link):
        self.link = link
        types = link.hello().message_types
        if self.MESSAGE not in types:
            raise LearningError(f"{link.url}: firmware {link.hello().firmware_hash!r} has no last_conv extension "
                                f"(generate it from mcuforge.learning.last_conv.board_model)")

    def _request(self, msg: LastConvMsg, payload: bytes = b"") -> bytes:
        return self.link.request(msg, payload).payload

    def info(self) -> LastConvInfo:
        f = _unpack(_LC_INFO, self._request(LastConvMsg.LAST_CONV_INFO), "LAST_CONV_INFO")
        return LastConvInfo(f[0], f[1], f[2], f[3], bool(f[4]), bool(f[5]), f[6], f[7])

    def configure(self, training: bool, teacher: bool) -> tuple[bool, bool]:
        """Whether TRAIN steps the slice (False: the head alone, on the same firmware) and whether
        LwF's teacher is the frozen network's embedding. -> (training, teacher) as set."""
        reply = self._request(LastConvMsg.LAST_CONV_CONFIG, bytes([int(bool(training)), int(bool(teacher))]))
        if len(reply) != 2:
            raise LearningError(f"LAST_CONV_CONFIG reply has {len(reply)} bytes, expected 2")
        return bool(reply[0]), bool(reply[1])

    def set_features(self, features: np.ndarray) -> None:
        """Put packed features (the last conv's input) this firmware computed earlier into model
        output 0, as if INVOKE had computed them (replay before TRAIN or PREDICT)."""
        write_chunked(self.link, LastConvMsg.SET_FEATURES, np.ascontiguousarray(features, dtype="<u4").tobytes())

    def read_state_bytes(self) -> bytes:
        """The slice state as the board holds it (``mf_last_conv_state``): a checkpoint's part
        below the head, written back with :meth:`write_state`."""
        return read_chunked(self.link, LastConvMsg.READ_LAST_CONV, self.info().state_bytes)

    def write_state(self, blob: bytes) -> None:
        """Put back a slice state :meth:`read_state_bytes` took from this firmware; read back to
        check it landed whole."""
        size = self.info().state_bytes
        if len(blob) != size:
            raise LearningError(f"slice state of {len(blob)} B does not fit this firmware's {size} B")
        write_chunked(self.link, LastConvMsg.WRITE_LAST_CONV, bytes(blob))
        if self.read_state_bytes() != bytes(blob):
            raise LearningError("the slice state read back differs from the one written")

    def read_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The trained slice as the board holds it: (offset [n] float32, residual [n, C] int16,
        filter [n, C] int8)."""
        info = self.info()
        return parse_slice_state(read_chunked(self.link, LastConvMsg.READ_LAST_CONV, info.state_bytes),
                                 info.channels, info.in_c)
