"""mcuforge serial link framing and message payloads (spec: docs/protocol.md).

Pure functions and a byte-at-a-time decoder; no I/O. Mirrors firmware/link/mf_link.c.

Frame: ``A5 5A | type u8 | seq u8 | len u16le | payload | crc16le``, CRC-16/CCITT-FALSE
(poly 0x1021, init 0xFFFF) over type, seq, len and payload.
"""
from __future__ import annotations

import binascii
import enum
import struct
from dataclasses import dataclass, field

import numpy as np

from .errors import ProtocolError

VERSION = 2  # 2: the host's session number in HELLO and INVOKE replies (docs/protocol.md)
SYNC = b"\xa5\x5a"
HEADER = struct.Struct("<BBH")  # type, seq, len
MAX_FRAME_PAYLOAD = 0xFFFF
# Once the HELLO is known the host accepts replies up to max(max_payload, this): every reply
# but HELLO fits max_payload, and a HELLO (4 strings cut to 32 bytes, <= 255 inputs, outputs
# and types) is at most 2954 bytes. Noise that fakes a long header then costs little.
REPLY_PAYLOAD_FLOOR = 4096
# Bytes the decoder examines (CRC'd or scanned) per feed() call at most, so that a caller's
# read deadline is checked at least this often whatever the line carries; the rest waits
# for the next call (``backlog``). Two largest frames.
CHECK_BUDGET = 2 * (MAX_FRAME_PAYLOAD + 8)
REPLY = 0x80


class Msg(enum.IntEnum):
    HELLO = 0x01
    PING = 0x02
    WRITE_INPUT = 0x03
    INVOKE = 0x04
    READ_OUTPUT = 0x05
    READ_PROFILE = 0x06
    EXIT = 0x07
    ERROR = 0x7F


class ErrorCode(enum.IntEnum):
    BAD_CRC = 1
    TOO_LONG = 2
    TRUNCATED = 3
    UNKNOWN_TYPE = 4
    BAD_LENGTH = 5
    BAD_INDEX = 6
    OUT_OF_RANGE = 7
    INVOKE_FAILED = 8
    FAULT = 9
    OVERFLOW = 10  # a memory guard broke during INVOKE (arena guard bytes, stack end)


# mf_model_api.h MF_DTYPE_* -> numpy dtype
DTYPES = {1: np.dtype(np.int8), 2: np.dtype(np.uint8), 3: np.dtype("<i2"),
          4: np.dtype("<i4"), 5: np.dtype("<f4"), 6: np.dtype("<u4"),
          7: np.dtype("<i8")}
HELLO_FLAG_SEMIHOSTING = 0x01
HELLO_FLAG_PROFILE = 0x02
GUARD_ARENA_BROKEN = 0x01  # HELLO guard bits (firmware/runtime/mf_guard.h)
GUARD_STACK_BROKEN = 0x02

WRITE_INPUT_OVERHEAD = 5  # index u8 + offset u32 before the data
PROFILE_OVERHEAD = 6


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE; binascii's crc_hqx is this CRC (poly 0x1021, no reflection, no
    final XOR) in C, ~300x faster than a bitwise loop in Python."""
    return binascii.crc_hqx(data, crc)


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes = b""

    @property
    def is_error(self) -> bool:
        return self.type == Msg.ERROR

    def type_name(self) -> str:
        return type_name(self.type)


def type_name(t: int) -> str:
    base = t & ~REPLY if t != Msg.ERROR else t
    try:
        name = Msg(base).name
    except ValueError:
        name = f"0x{base:02x}"
    return name + (" reply" if t & REPLY else "")


def encode_frame(type_: int, seq: int, payload: bytes = b"") -> bytes:
    if not 0 <= type_ <= 0xFF or not 0 <= seq <= 0xFF:
        raise ValueError(f"type and seq must be bytes, got type={type_} seq={seq}")
    if len(payload) > MAX_FRAME_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the 65535-byte frame limit")
    body = HEADER.pack(type_, seq, len(payload)) + bytes(payload)
    return SYNC + body + struct.pack("<H", crc16(body))


class DecodeEvent(enum.Enum):
    FRAME = "frame"
    BAD_CRC = "bad_crc"
    TOO_LONG = "too_long"


@dataclass
class FrameDecoder:
    """Incremental decoder: ``feed(bytes)`` returns the frames completed so far.

    Bad CRCs and over-long lengths are counted and skipped (scanning resumes for the next
    sync inside the bad frame, where the real frame may start); ``resync()`` declares a
    partial frame dead once the line went idle; ``reset()`` drops everything buffered.

    Each call examines at most ``budget`` bytes (``examined`` counts them all); what is
    left is examined by the next call (``feed(b"")`` will do) while ``backlog`` is true, so
    no noise can hold a caller inside one call past its deadline."""

    max_payload: int = MAX_FRAME_PAYLOAD
    budget: int = CHECK_BUDGET
    bad_crc: int = 0
    too_long: int = 0
    dead: int = 0  # partial frames dropped by resync()
    examined: int = 0
    backlog: bool = False
    _buf: bytearray = field(default_factory=bytearray)

    def reset(self) -> None:
        self._buf.clear()
        self.backlog = False

    @property
    def pending(self) -> int:
        return len(self._buf)

    @property
    def damaged(self) -> int:
        """Frames seen but not delivered: bad CRC, impossible length, cut short."""
        return self.bad_crc + self.too_long + self.dead

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        return self._scan(idle=False)

    def resync(self) -> list[Frame]:
        """The line went idle with a partial frame buffered: that frame is dead (e.g. its
        length was corrupted upward). Drop it and return whole frames found after it."""
        return self._scan(idle=True)

    def _scan(self, idle: bool) -> list[Frame]:
        frames: list[Frame] = []
        work = 0
        self.backlog = False
        buf = self._buf
        while True:
            if work >= self.budget:
                self.backlog = bool(buf)
                break
            start = buf.find(SYNC)
            if start < 0:
                # keep a trailing A5: it may be the first sync byte of the next frame
                keep = 1 if buf[-1:] == SYNC[:1] and not idle else 0
                work += len(buf) - keep
                del buf[: len(buf) - keep]
                break
            work += start + 2
            del buf[:start]
            if len(buf) < 2 + HEADER.size:
                if idle:
                    self.dead += 1
                    del buf[:2]
                    continue
                break
            type_, seq, length = HEADER.unpack_from(buf, 2)
            if length > self.max_payload:
                self.too_long += 1
                del buf[:2]
                continue
            total = 2 + HEADER.size + length + 2
            if len(buf) < total:
                if idle:
                    self.dead += 1
                    del buf[:2]
                    continue
                break
            if work + total > self.budget and work > start + 2:
                self.backlog = True  # this check would overrun the budget: next call
                break
            work += total
            (rx_crc,) = struct.unpack_from("<H", buf, total - 2)
            with memoryview(buf) as view:  # no copy of what is most likely noise
                ok = rx_crc == crc16(view[2 : total - 2])
            if not ok:
                self.bad_crc += 1
                del buf[:2]  # resync inside: the real frame may start later
                continue
            frames.append(Frame(type_, seq, bytes(buf[2 + HEADER.size : total - 2])))
            del buf[:total]
        self.examined += work
        return frames


def decode_frames(data: bytes) -> list[Frame]:
    return FrameDecoder().feed(data)


# ---- payloads ---------------------------------------------------------------------------

class _Reader:
    def __init__(self, data: bytes, what: str):
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolError(f"{self.what} payload truncated: needs {self.pos + n} bytes, "
                                f"has {len(self.data)}")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt: str):
        s = struct.Struct("<" + fmt)
        return s.unpack(self.take(s.size))

    def u8(self) -> int:
        return self.unpack("B")[0]

    def str(self) -> str:
        return self.take(self.u8()).decode("ascii", errors="replace")

    def done(self) -> None:
        if self.pos != len(self.data):
            raise ProtocolError(f"{self.what} payload has {len(self.data) - self.pos} extra bytes")


@dataclass(frozen=True)
class TensorInfo:
    dtype: np.dtype
    bytes: int

    @property
    def count(self) -> int:
        return self.bytes // self.dtype.itemsize


@dataclass(frozen=True)
class Hello:
    version: int
    flags: int
    max_payload: int
    clock_hz: int
    arena_bytes: int
    num_layers: int
    board: str
    firmware_hash: str
    model_name: str
    cycle_counter: str  # "dwt" (hardware cycles) or "systick-icount" (emulated)
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    message_types: tuple[int, ...]
    # Memory guards (mf_guard.c), live values: not part of the firmware's identity.
    stack_bytes: int = field(default=0, compare=False)       # 0: stack not painted
    stack_high_water: int = field(default=0, compare=False)  # deepest stack use since boot
    guard: int = field(default=0, compare=False)             # GUARD_* bits, 0 = intact
    session: int = field(default=0, compare=False)           # the host's number; 0 after every boot

    @property
    def semihosting(self) -> bool:
        return bool(self.flags & HELLO_FLAG_SEMIHOSTING)

    @property
    def profiling(self) -> bool:
        return bool(self.flags & HELLO_FLAG_PROFILE)


def parse_hello(payload: bytes) -> Hello:
    r = _Reader(payload, "HELLO")
    version, flags, max_payload, clock, arena, layers = r.unpack("BBHIIH")
    if version != VERSION:
        raise ProtocolError(f"device speaks link protocol v{version}, host speaks v{VERSION}")
    board, fw_hash, model, counter = r.str(), r.str(), r.str(), r.str()

    def ios() -> tuple[TensorInfo, ...]:
        out = []
        for _ in range(r.u8()):
            code, nbytes = r.unpack("BI")
            if code not in DTYPES:
                raise ProtocolError(f"HELLO names unknown dtype code {code}")
            out.append(TensorInfo(DTYPES[code], nbytes))
        return tuple(out)

    inputs, outputs = ios(), ios()
    types = tuple(r.take(r.u8()))
    stack_bytes, high_water, guard, session = r.unpack("IIBI")
    r.done()
    return Hello(version, flags, max_payload, clock, arena, layers, board, fw_hash, model,
                 counter, inputs, outputs, types, stack_bytes, high_water, guard, session)


def hello_payload(session: int | None = None) -> bytes:
    """A HELLO request: a query, or ``session`` for the device to keep and echo (0 after a boot)."""
    return b"" if session is None else struct.pack("<I", session)


def write_input_payload(index: int, offset: int, data: bytes) -> bytes:
    return struct.pack("<BI", index, offset) + bytes(data)


READ_OUTPUT_OVERHEAD = 4  # the session number before the bytes: a reply holds max_payload - 4 of them


def read_output_payload(index: int, offset: int, length: int) -> bytes:
    return struct.pack("<BIH", index, offset, length)


def parse_read_output(payload: bytes) -> tuple[int, bytes]:
    """-> (session, the bytes)"""
    if len(payload) < READ_OUTPUT_OVERHEAD:
        raise ProtocolError(f"READ_OUTPUT payload truncated ({len(payload)} bytes, no session)")
    return struct.unpack_from("<I", payload)[0], payload[READ_OUTPUT_OVERHEAD:]


def parse_invoke(payload: bytes) -> tuple[int, int, int]:
    """-> (status, cycles, session)"""
    r = _Reader(payload, "INVOKE")
    status, cycles, session = r.unpack("iQI")
    r.done()
    return status, cycles, session


@dataclass(frozen=True)
class ProfileChunk:
    first: int
    total: int
    layers: tuple[tuple[int, str], ...]  # (cycles, op name)


def read_profile_payload(first: int) -> bytes:
    return struct.pack("<H", first)


def parse_profile(payload: bytes) -> ProfileChunk:
    r = _Reader(payload, "READ_PROFILE")
    first, count, total = r.unpack("HHH")
    layers = []
    for _ in range(count):
        (cycles,) = r.unpack("I")
        layers.append((cycles, r.str()))
    r.done()
    return ProfileChunk(first, total, tuple(layers))


def exit_payload(code: int) -> bytes:
    return struct.pack("<i", code)


@dataclass(frozen=True)
class DeviceError:
    code: int
    request_type: int
    message: str

    def describe(self) -> str:
        try:
            name = ErrorCode(self.code).name
        except ValueError:
            name = f"code {self.code}"
        return f"{name} for {type_name(self.request_type)}: {self.message}"


def parse_error(payload: bytes) -> DeviceError:
    if len(payload) < 2:
        raise ProtocolError(f"ERROR payload of {len(payload)} bytes (needs >= 2)")
    return DeviceError(payload[0], payload[1], payload[2:].decode("ascii", errors="replace"))


def error_payload(code: int, request_type: int, message: str) -> bytes:
    return bytes([code, request_type]) + message.encode("ascii")
