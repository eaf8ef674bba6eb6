"""Link messages of the on-device audio front end (docs/protocol.md, "frontend" section):
payload encoders and reply parsers, no I/O. Mirrors firmware/frontend/mf_frontend_link.c."""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from ..link.protocol import ProtocolError


class FrontendMsg(enum.IntEnum):
    FRONTEND_INFO = 0x10
    AUDIO_BEGIN = 0x11
    AUDIO_CHUNK = 0x12
    AUDIO_END = 0x13
    READ_FEATURES = 0x14


CHUNK_OVERHEAD = 4  # first_sample u32 before the samples
INFO = struct.Struct("<IIIHHHHHBfb")
CHUNK_REPLY = struct.Struct("<II")
END_REPLY = struct.Struct("<IIQ")
READ_FEATURES = struct.Struct("<IH")

FLAG_NORMALIZED = 0x01
FLAG_KEEP_FLOAT = 0x02
FLAG_CLIP_OPEN = 0x04


@dataclass(frozen=True)
class FrontendInfo:
    config_id: int
    sample_rate: int
    clip_samples: int
    win: int
    hop: int
    n_fft: int
    n_mels: int
    n_frames: int
    normalized: bool
    keep_float: bool
    clip_open: bool
    input_scale: float
    input_zero_point: int

    @property
    def values(self) -> int:
        """Features per clip (frames x mels)."""
        return self.n_frames * self.n_mels


@dataclass(frozen=True)
class ClipStatus:
    frames: int
    samples: int       # samples the device received (cut ones included, padding not)
    ticks: int = 0     # front end work of the clip, in cycle counter ticks (AUDIO_END only)


def _expect(payload: bytes, st: struct.Struct, name: str) -> tuple:
    if len(payload) != st.size:
        raise ProtocolError(f"{name} reply of {len(payload)} bytes (expected {st.size})")
    return st.unpack(payload)


def parse_info(payload: bytes) -> FrontendInfo:
    (cid, rate, clip, win, hop, n_fft, mels, frames, flags, scale, zp) = _expect(
        payload, INFO, "FRONTEND_INFO")
    return FrontendInfo(cid, rate, clip, win, hop, n_fft, mels, frames, bool(flags & FLAG_NORMALIZED),
                        bool(flags & FLAG_KEEP_FLOAT), bool(flags & FLAG_CLIP_OPEN), scale, zp)


def chunk_payload(first_sample: int, samples_le16: bytes) -> bytes:
    if len(samples_le16) % 2:
        raise ValueError("AUDIO_CHUNK samples must be whole int16 values")
    return struct.pack("<I", first_sample) + bytes(samples_le16)


def parse_chunk_reply(payload: bytes) -> ClipStatus:
    return ClipStatus(*_expect(payload, CHUNK_REPLY, "AUDIO_CHUNK"))


def parse_end_reply(payload: bytes) -> ClipStatus:
    return ClipStatus(*_expect(payload, END_REPLY, "AUDIO_END"))


def read_features_payload(offset: int, count: int) -> bytes:
    return READ_FEATURES.pack(offset, count)
