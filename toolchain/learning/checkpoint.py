"""The learning state as a checkpoint blob: the byte layout of ``mf_head_state``
(firmware/learning/mf_head.h), read and written by the host.

Layout (all little-endian, 4-byte fields, no padding)::

    16 x u32 header: magic "MFHS", version, layout hash, crc, max_classes, dim, pretrained,
                     rule, lr (f32), batch, classes, frozen_classes, samples, batch_fill,
                     total_samples, reserved
    w      f32 [max_classes x dim]   W (cwr: TW)
    b      f32 [max_classes]
    aux_w  f32 [max_classes x dim]   batch sums | frozen copy (lwf) | CW (cwr)
    aux_b  f32 [max_classes]
    past   u32 [max_classes]         cwr
    cur    u32 [max_classes]         cwr

``crc`` is CRC-32 (zlib) of the blob with the crc field zeroed; the device writes it when
asked for STATE_INFO. ``layout`` identifies the head configuration (dims and the pretrained
weights), so a checkpoint is only restored onto the firmware it came from.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, fields

import numpy as np

MAGIC = 0x5348464D  # "MFHS"
VERSION = 1
HEADER = struct.Struct("<IIIIIIIIfIIIIIII")
CRC_OFFSET = 12


class CheckpointError(ValueError):
    """A blob that is not a valid learning state for this head."""


def layout_hash(w_init: np.ndarray, b_init: np.ndarray, max_classes: int) -> int:
    """Identity of a head configuration: CRC-32 of its dims and pretrained weights."""
    w = np.ascontiguousarray(w_init, dtype="<f4")
    b = np.ascontiguousarray(b_init, dtype="<f4")
    pretrained, dim = w.shape
    head = b"MFHD" + struct.pack("<III", max_classes, dim, pretrained)
    return zlib.crc32(head + w.tobytes() + b.tobytes())


def state_bytes(max_classes: int, dim: int) -> int:
    return 4 * (16 + 2 * max_classes * dim + 4 * max_classes)


@dataclass
class HeadState:
    """Mirror of ``mf_head_state``; arrays have ``max_classes`` rows, unused rows are 0."""

    layout: int
    max_classes: int
    dim: int
    pretrained: int
    rule: int
    lr: np.float32
    batch: int
    classes: int
    frozen_classes: int
    samples: int
    batch_fill: int
    total_samples: int
    w: np.ndarray
    b: np.ndarray
    aux_w: np.ndarray
    aux_b: np.ndarray
    past: np.ndarray
    cur: np.ndarray
    crc: int = 0
    version: int = VERSION
    reserved: int = 0
    magic: int = MAGIC

    @classmethod
    def empty(cls, max_classes: int, dim: int, pretrained: int, layout: int) -> "HeadState":
        z = lambda *s: np.zeros(s, np.float32)  # noqa: E731
        return cls(layout=layout, max_classes=max_classes, dim=dim, pretrained=pretrained, rule=0,
                   lr=np.float32(0), batch=1, classes=pretrained, frozen_classes=0, samples=0,
                   batch_fill=0, total_samples=0, w=z(max_classes, dim), b=z(max_classes),
                   aux_w=z(max_classes, dim), aux_b=z(max_classes),
                   past=np.zeros(max_classes, np.uint32), cur=np.zeros(max_classes, np.uint32))

    def copy(self) -> "HeadState":
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        return HeadState(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in kw.items()})

    # ---- blob ------------------------------------------------------------------------
    def to_bytes(self, seal: bool = True) -> bytes:
        """The blob as the device would hold it (with its CRC if ``seal``)."""
        head = HEADER.pack(self.magic, self.version, self.layout, 0, self.max_classes, self.dim,
                           self.pretrained, self.rule, float(self.lr), self.batch, self.classes,
                           self.frozen_classes, self.samples, self.batch_fill, self.total_samples,
                           self.reserved)
        body = b"".join(np.ascontiguousarray(a, dtype=dt).tobytes() for a, dt in (
            (self.w, "<f4"), (self.b, "<f4"), (self.aux_w, "<f4"), (self.aux_b, "<f4"),
            (self.past, "<u4"), (self.cur, "<u4")))
        blob = head + body
        if seal:
            blob = blob[:CRC_OFFSET] + struct.pack("<I", blob_crc(blob)) + blob[CRC_OFFSET + 4:]
        return blob

    @classmethod
    def from_bytes(cls, blob: bytes, check_crc: bool = True) -> "HeadState":
        """Parse a blob; raises CheckpointError naming what is wrong."""
        blob = bytes(blob)
        if len(blob) < HEADER.size:
            raise CheckpointError(f"state blob of {len(blob)} bytes is shorter than its "
                                  f"{HEADER.size}-byte header")
        (magic, version, layout, crc, max_classes, dim, pretrained, rule, lr, batch, classes,
         frozen, samples, fill, total, reserved) = HEADER.unpack_from(blob)
        if magic != MAGIC:
            raise CheckpointError(f"not a head state blob (magic 0x{magic:08x}, expected 0x{MAGIC:08x})")
        if version != VERSION:
            raise CheckpointError(f"state blob version {version}; this mcuforge reads version {VERSION}")
        want = state_bytes(max_classes, dim)
        if len(blob) != want:
            raise CheckpointError(f"state blob has {len(blob)} bytes; {max_classes} classes x {dim} "
                                  f"dims needs {want}")
        if check_crc and crc != blob_crc(blob):
            raise CheckpointError(f"state blob CRC 0x{crc:08x} does not match its contents "
                                  f"(0x{blob_crc(blob):08x}): corrupt or not sealed")
        pos = HEADER.size

        def take(count: int, dtype: str, shape) -> np.ndarray:
            nonlocal pos
            arr = np.frombuffer(blob, dtype=dtype, count=count, offset=pos).reshape(shape)
            pos += 4 * count
            return arr.astype(np.float32 if dtype == "<f4" else np.uint32)

        m = max_classes
        w = take(m * dim, "<f4", (m, dim))
        b = take(m, "<f4", (m,))
        aux_w = take(m * dim, "<f4", (m, dim))
        aux_b = take(m, "<f4", (m,))
        past = take(m, "<u4", (m,))
        cur = take(m, "<u4", (m,))
        return cls(layout=layout, max_classes=max_classes, dim=dim, pretrained=pretrained, rule=rule,
                   lr=np.float32(lr), batch=batch, classes=classes, frozen_classes=frozen,
                   samples=samples, batch_fill=fill, total_samples=total, w=w, b=b, aux_w=aux_w,
                   aux_b=aux_b, past=past, cur=cur, crc=crc, version=version, reserved=reserved,
                   magic=magic)


def blob_crc(blob: bytes) -> int:
    """CRC-32 of a blob with its crc field taken as zero (what the device computes)."""
    return zlib.crc32(bytes(blob[:CRC_OFFSET]) + b"\0\0\0\0" + bytes(blob[CRC_OFFSET + 4:]))


__all__ = ["CheckpointError", "HeadState", "blob_crc", "layout_hash", "state_bytes", "MAGIC",
           "VERSION"]
