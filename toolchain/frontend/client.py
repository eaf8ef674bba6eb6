"""Host side of the on-device front end: stream a clip of int16 audio to the firmware
(which computes the log-mel features into the model's input tensor) and read back the
float features for diagnostics.

    info = check_config(link, cfg, input_scale, input_zero_point)   # same features as the host?
    frames, ticks = send_clip(link, samples)                           # then link.invoke()
    feats = read_features(link).reshape(info.n_frames, info.n_mels)
"""
from __future__ import annotations

import numpy as np

from ..data.features import FeatureConfig
from ..link.client import Link, LinkError
from . import messages as M
from .config import config_id


class FrontendError(LinkError):
    """The firmware has no front end, another feature config, or answered out of step."""


def _require(link: Link, *types: M.FrontendMsg) -> None:
    served = set(link.hello().message_types)
    missing = [t for t in types if t not in served]
    if missing:
        names = ", ".join(f"{t.name} (0x{t.value:02x})" for t in missing)
        hint = (" (firmware built with MF_FRONTEND_KEEP_FLOAT=0)"
                if missing == [M.FrontendMsg.READ_FEATURES] else
                " (build the project with extensions=['frontend'])")
        raise FrontendError(f"{link.url}: firmware does not serve {names}{hint}")


def frontend_info(link: Link) -> M.FrontendInfo:
    _require(link, M.FrontendMsg.FRONTEND_INFO)
    return M.parse_info(link.request(M.FrontendMsg.FRONTEND_INFO).payload)


def check_config(link: Link, cfg: FeatureConfig, input_scale: float,
                 input_zero_point: int) -> M.FrontendInfo:
    """Refuse firmware whose front end was generated for another feature config or input
    quantization (compares the config id of mf_frontend_config.h)."""
    info = frontend_info(link)
    want = config_id(cfg, input_scale, input_zero_point)
    if info.config_id != want:
        raise FrontendError(
            f"{link.url}: device front end has config id 0x{info.config_id:08x} "
            f"({info.n_frames}x{info.n_mels}, win {info.win}, hop {info.hop}, scale {info.input_scale:g}, "
            f"zero point {info.input_zero_point}); expected 0x{want:08x} for {cfg} with scale "
            f"{input_scale:g}, zero point {input_zero_point}: regenerate mf_frontend_config.h")
    return info


def _as_int16(samples) -> np.ndarray:
    x = np.asarray(samples)
    if x.dtype != np.int16:
        raise FrontendError(f"send_clip takes int16 PCM samples, got {x.dtype} "
                            "(scale float audio by 32768 and round first)")
    if x.ndim != 1:
        raise FrontendError(f"send_clip takes one clip as a 1-D array, got shape {x.shape}")
    return np.ascontiguousarray(x, dtype="<i2")


def send_clip(link: Link, samples_int16, chunk_samples: int | None = None) -> tuple[int, int]:
    """Stream one clip (AUDIO_BEGIN, AUDIO_CHUNKs, AUDIO_END). The device cuts samples past its
    clip length and zero-pads a short clip, as the host's features do.

    -> (frames computed, front end ticks of the clip in the counter named in HELLO;
    ``link.cycle_scale.convert(ticks)`` gives cycles or emulated instructions)."""
    x = _as_int16(samples_int16)
    _require(link, M.FrontendMsg.AUDIO_BEGIN, M.FrontendMsg.AUDIO_CHUNK, M.FrontendMsg.AUDIO_END)
    most = (link.hello().max_payload - M.CHUNK_OVERHEAD) // 2
    n = most if chunk_samples is None else int(chunk_samples)
    if not 1 <= n <= most:
        raise FrontendError(f"chunk_samples={chunk_samples} must be in 1..{most} (device max payload)")
    link.request(M.FrontendMsg.AUDIO_BEGIN)
    raw = x.tobytes()
    for pos in range(0, x.size, n):
        st = M.parse_chunk_reply(link.request(
            M.FrontendMsg.AUDIO_CHUNK, M.chunk_payload(pos, raw[2 * pos:2 * (pos + n)])).payload)
        sent = min(pos + n, x.size)
        if st.samples != sent:
            raise FrontendError(f"{link.url}: device has {st.samples} samples after AUDIO_CHUNK, "
                                f"host sent {sent}")
    end = M.parse_end_reply(link.request(M.FrontendMsg.AUDIO_END).payload)
    if end.samples != x.size:
        raise FrontendError(f"{link.url}: device received {end.samples} samples, host sent {x.size}")
    return end.frames, end.ticks


def read_features(link: Link, n: int | None = None, offset: int = 0) -> np.ndarray:
    """Float32 features of the last clip, flat (frames x mels, row-major): ``n`` values from
    ``offset`` (default: all of them)."""
    _require(link, M.FrontendMsg.FRONTEND_INFO, M.FrontendMsg.READ_FEATURES)
    total = frontend_info(link).values
    n = total - offset if n is None else int(n)
    if offset < 0 or n < 0 or offset + n > total:
        raise FrontendError(f"{link.url}: {n} features at offset {offset} overrun the clip's {total}")
    per = link.hello().max_payload // 4
    out = bytearray()
    while len(out) < 4 * n:
        k = min(per, n - len(out) // 4)
        data = link.request(M.FrontendMsg.READ_FEATURES,
                            M.read_features_payload(offset + len(out) // 4, k)).payload
        if len(data) != 4 * k:
            raise FrontendError(f"{link.url}: READ_FEATURES returned {len(data)} bytes, asked {4 * k}")
        out += data
    return np.frombuffer(bytes(out), dtype="<f4").astype(np.float32)
