"""Host side of the EMI-RNN extension (``firmware/rnn/mf_rnn_link.c``; docs/protocol.md, "rnn"):
message layouts and ``send_bag``, which streams a bag's frames and returns the device's answer.

    info = rnn_info(link)                 # the window, stride, exit and bag settings it runs
    result = send_bag(link, frames)       # BagResult: class, instances, steps, exits, ticks
"""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import numpy as np

from ..link.client import Link, LinkError
from ..link.errors import BoardReset
from ..link.protocol import ProtocolError
from .reference import BagResult
from .rule import FRAMES_OVERHEAD, NO_NEGATIVE, RnnRule


class RnnMsg(enum.IntEnum):
    RNN_INFO = 0x30
    BAG_BEGIN = 0x31
    BAG_FRAMES = 0x32
    BAG_END = 0x33


INFO = struct.Struct("<HHHHBBBBfHH")
FRAMES_REPLY = struct.Struct("<IH")
END_HEAD = struct.Struct("<BHIQB")
END_INSTANCE = struct.Struct("<BH")
FLAG_EARLY_EXIT, FLAG_NEGATIVE_ONLY, FLAG_BAG_RULE, FLAG_BAG_OPEN = 0x01, 0x02, 0x04, 0x08


class RnnLinkError(LinkError):
    """The firmware has no RNN extension, other settings, or answered out of step."""


@dataclass(frozen=True)
class RnnInfo:
    input_dim: int
    window: int
    stride: int
    kappa: int
    classes: int
    k: int
    negative: int | None
    early_exit: bool
    negative_only: bool
    bag_rule: bool
    bag_open: bool
    p_hat: np.float32
    frame_bytes: int
    report_instances: int

    def matches(self, rule: RnnRule) -> bool:
        return (self.input_dim, self.window, self.stride, self.kappa, self.classes, self.k, self.negative,
                self.early_exit, self.negative_only, self.bag_rule, self.p_hat) == (
            rule.input_dim, rule.window, rule.stride, rule.kappa, rule.classes, rule.k, rule.negative,
            rule.early_exit, rule.negative_only, rule.bag_rule, rule.p_hat)


def parse_info(payload: bytes) -> RnnInfo:
    if len(payload) != INFO.size:
        raise ProtocolError(f"RNN_INFO reply of {len(payload)} bytes (expected {INFO.size})")
    d, w, s, kappa, classes, k, neg, flags, p_hat, frame_bytes, report = INFO.unpack(payload)
    return RnnInfo(d, w, s, kappa, classes, k, None if neg == NO_NEGATIVE else neg, bool(flags & FLAG_EARLY_EXIT),
                   bool(flags & FLAG_NEGATIVE_ONLY), bool(flags & FLAG_BAG_RULE), bool(flags & FLAG_BAG_OPEN),
                   np.float32(p_hat), frame_bytes, report)


def parse_end(payload: bytes) -> BagResult:
    if len(payload) < END_HEAD.size:
        raise ProtocolError(f"BAG_END reply of {len(payload)} bytes (at least {END_HEAD.size})")
    cls, instances, steps, ticks, reported = END_HEAD.unpack_from(payload)
    if len(payload) != END_HEAD.size + reported * END_INSTANCE.size or reported > instances:
        raise ProtocolError(f"BAG_END reply of {len(payload)} bytes does not hold its {reported} instances")
    rows = [END_INSTANCE.unpack_from(payload, END_HEAD.size + i * END_INSTANCE.size) for i in range(reported)]
    return BagResult(cls, instances, steps, [r[0] for r in rows], [r[1] for r in rows], ticks)


def _require(link: Link) -> None:
    missing = [t for t in RnnMsg if t not in set(link.hello().message_types)]
    if missing:
        raise RnnLinkError(f"{link.url}: firmware does not serve {', '.join(t.name for t in missing)} "
                           "(generate it from a .rnn.keras model)")


def rnn_info(link: Link) -> RnnInfo:
    _require(link)
    return parse_info(link.request(RnnMsg.RNN_INFO).payload)


def check_rule(link: Link, rule: RnnRule) -> RnnInfo:
    """Refuse firmware whose windowing differs from the model's."""
    info = rnn_info(link)
    if not info.matches(rule):
        raise RnnLinkError(f"{link.url}: the device runs {info}, the model needs {rule}: regenerate the firmware")
    return info


def send_bag(link: Link, frames: np.ndarray) -> BagResult:
    """Stream one bag [T, d] in the model input's dtype (``reference.frames_for``: float32, or
    int16 for fixed point) as BAG_BEGIN (with T), BAG_FRAMES... (the frames' bytes in chunks of
    the link's payload: a frame larger than a chunk is split), BAG_END; return the device's result.
    A board that resets meanwhile lost the bag: it is sent again (up to the link's retries)."""
    frames = np.asarray(frames)
    x = np.ascontiguousarray(frames.astype(frames.dtype.newbyteorder("<")))
    if x.ndim != 2 or len(x) == 0:
        raise RnnLinkError(f"a bag is [T, d] frames with T >= 1, got shape {x.shape}")
    data = x.tobytes()
    per = link.hello().max_payload - FRAMES_OVERHEAD  # bytes of frames a chunk holds (a frame may be split)
    if per < 1:
        raise RnnLinkError(f"{link.url}: a max payload of {link.hello().max_payload} B holds no frame bytes")

    def send() -> BagResult:
        link.request(RnnMsg.BAG_BEGIN, struct.pack("<I", len(x)))
        for pos in range(0, len(data), per):
            chunk = data[pos:pos + per]
            reply = link.request(RnnMsg.BAG_FRAMES, struct.pack("<I", pos) + chunk,
                                 timeout=link.invoke_timeout).payload
            if len(reply) != FRAMES_REPLY.size:
                raise ProtocolError(f"BAG_FRAMES reply of {len(reply)} bytes (expected {FRAMES_REPLY.size})")
            got, _ = FRAMES_REPLY.unpack(reply)
            if got != pos + len(chunk):
                raise RnnLinkError(f"{link.url}: device has {got} bytes of frames after BAG_FRAMES, host sent "
                                   f"{pos + len(chunk)}")
        return parse_end(link.request(RnnMsg.BAG_END, timeout=link.invoke_timeout).payload)

    return resent_on_reset(link, send)


def resent_on_reset(link: Link, send):
    """``send()`` (one bag, from its first message), again from the start when the board resets
    meanwhile (it lost the bag's state), up to the link's retries."""
    for attempt in range(link.retries + 1):
        try:
            return send()
        except BoardReset:
            if attempt == link.retries:
                raise
            link.stats.sample_reruns += 1
    raise AssertionError("unreachable")
