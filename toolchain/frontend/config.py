"""The generated ``mf_frontend_config.h``: sizes, tables and quantization of the on-device
log-mel front end (``firmware/frontend/``), rendered from the model's FeatureConfig.

Every table holds the float32 values the host's numpy features use (the Hann window and the
mel filterbank of ``mcuforge.data.features``) and the FFT twiddles cos/sin(2 pi k / n_fft)
rounded once from float64, so the device starts from the host's exact numbers. The
filterbank is stored sparse: each band's run of bins from its first to its last nonzero weight.
"""
from __future__ import annotations

import json
import math
import numbers
import zlib

import numpy as np

from ..codegen.c_literals import c_array_body, c_float
from ..data.features import FeatureConfig

HEADER_NAME = "mf_frontend_config.h"
U16_MAX = 0xFFFF




def twiddles(n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """(cos, sin) of 2 pi k / n_fft for k < n_fft / 2, computed in float64, stored float32."""
    k = np.arange(n_fft // 2, dtype=np.float64)
    a = 2.0 * np.pi * k / n_fft
    return np.cos(a).astype(np.float32), np.sin(a).astype(np.float32)


def mel_runs(cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sparse filterbank: per band (first bin, bin count, offset into weights), and the
    concatenated weights. A band without any nonzero weight has count 0."""
    fb = cfg.filterbank()  # (bins, mels) float32
    starts, lengths, offsets, weights = [], [], [], []
    offset = 0
    for m in range(fb.shape[1]):
        nz = np.flatnonzero(fb[:, m])
        first, count = (int(nz[0]), int(nz[-1] - nz[0] + 1)) if nz.size else (0, 0)
        starts.append(first)
        lengths.append(count)
        offsets.append(offset)
        weights.append(fb[first:first + count, m])
        offset += count
    w = np.concatenate(weights).astype(np.float32) if offset else np.zeros(0, np.float32)
    return (np.array(starts, np.int64), np.array(lengths, np.int64), np.array(offsets, np.int64), w)


def _check(cfg, input_scale, input_zero_point) -> tuple[float, int]:
    if not isinstance(cfg, FeatureConfig):
        raise TypeError(f"render_frontend_config needs a FeatureConfig, got {type(cfg).__name__}")
    if isinstance(input_scale, bool) or not isinstance(input_scale, numbers.Real) \
            or not math.isfinite(float(input_scale)) or not float(np.float32(input_scale)) > 0:
        raise ValueError(f"input_scale={input_scale!r} must be a finite float32 > 0")
    if isinstance(input_zero_point, bool) or not isinstance(input_zero_point, numbers.Integral) \
            or not -128 <= int(input_zero_point) <= 127:
        raise ValueError(f"input_zero_point={input_zero_point!r} must be an int8 (-128..127)")
    problems = []
    if cfg.n_fft < 4:
        problems.append(f"n_fft={cfg.n_fft} must be >= 4")
    for name in ("win", "hop", "n_fft", "n_mels", "n_frames"):
        if getattr(cfg, name) > U16_MAX:
            problems.append(f"{name}={getattr(cfg, name)} exceeds {U16_MAX} (u16 in FRONTEND_INFO)")
    for name in ("sample_rate", "clip_samples"):
        if getattr(cfg, name) > 0xFFFFFFFF:
            problems.append(f"{name}={getattr(cfg, name)} exceeds 2^32 - 1")
    if cfg.normalized:
        for name in ("mean", "std"):
            if not np.isfinite(np.float32(getattr(cfg, name))):
                problems.append(f"{name}={getattr(cfg, name)} is not a finite float32")
    if problems:
        raise ValueError("FeatureConfig not supported by the device front end: " + "; ".join(problems))
    return float(np.float32(input_scale)), int(input_zero_point)


def config_id(cfg: FeatureConfig, input_scale: float, input_zero_point: int) -> int:
    """CRC-32 of the feature config and input quantization: FRONTEND_INFO reports the id
    the firmware was built with, so the host can refuse features made another way."""
    scale, zp = _check(cfg, input_scale, input_zero_point)
    text = json.dumps({"features": cfg.to_dict(), "input_scale": scale, "input_zero_point": zp},
                      sort_keys=True)
    return zlib.crc32(text.encode())


def ram_parts(cfg: FeatureConfig, keep_float: bool = True) -> dict[str, int]:
    """Static RAM of firmware/frontend/mf_frontend.c by buffer: the ring of one window of int16
    samples, the FFT's float32 buffer, the power spectrum, the float features (the clip's with
    MF_FRONTEND_KEEP_FLOAT, else one frame's) and its counters; the link handler's block of
    decoded samples is on the stack."""
    return {"sample ring": 2 * cfg.win, "FFT buffer": 4 * cfg.n_fft, "power spectrum": 4 * (cfg.n_fft // 2 + 1),
            ("clip features" if keep_float else "frame"): 4 * cfg.n_mels * (cfg.n_frames if keep_float else 1),
            "counters": 32}


def render_frontend_config(cfg: FeatureConfig, input_scale: float, input_zero_point: int, *,
                           keep_float: bool | None = None) -> str:
    """Text of ``mf_frontend_config.h`` for ``cfg`` and the model input's quantization.

    ``keep_float``: None leaves MF_FRONTEND_KEEP_FLOAT to the firmware default (on); True/False
    sets the project's default (the float feature buffer for READ_FEATURES costs frames x mels
    x 4 bytes of RAM). A -DMF_FRONTEND_KEEP_FLOAT=... in the build flags overrides either.
    """
    scale, zp = _check(cfg, input_scale, input_zero_point)
    starts, lengths, offsets, weights = mel_runs(cfg)
    if weights.size > U16_MAX:
        raise ValueError(f"mel filterbank has {weights.size} nonzero weights; the header indexes "
                         f"them with u16 (max {U16_MAX})")
    cos_t, sin_t = twiddles(cfg.n_fft)
    cid = config_id(cfg, scale, zp)
    desc = ", ".join(f"{k}={v}" for k, v in cfg.to_dict().items())
    lines = [
        "/* Generated by mcuforge.frontend.config.render_frontend_config: do not edit.",
        f" * FeatureConfig({desc})",
        f" * input quantization: scale {np.float32(scale)}, zero point {zp}",
        " * Sizes for everyone; the tables only where MF_FRONTEND_CONFIG_TABLES is defined",
        " * (firmware/frontend/mf_frontend.c). */",
        "#ifndef MF_FRONTEND_CONFIG_H",
        "#define MF_FRONTEND_CONFIG_H",
        "",
        "#include <stdint.h>",
        "",
        f"#define MF_FRONTEND_CONFIG_ID 0x{cid:08x}u",
        f"#define MF_FRONTEND_SAMPLE_RATE {cfg.sample_rate}u",
        f"#define MF_FRONTEND_CLIP_SAMPLES {cfg.clip_samples}",
        f"#define MF_FRONTEND_WIN {cfg.win}",
        f"#define MF_FRONTEND_HOP {cfg.hop}",
        f"#define MF_FRONTEND_N_FFT {cfg.n_fft}",
        f"#define MF_FRONTEND_MELS {cfg.n_mels}",
        f"#define MF_FRONTEND_FRAMES {cfg.n_frames}",
        f"#define MF_FRONTEND_EPS {c_float(cfg.eps)}",
        f"#define MF_FRONTEND_NORMALIZED {1 if cfg.normalized else 0}",
    ]
    if cfg.normalized:
        lines += [f"#define MF_FRONTEND_MEAN {c_float(cfg.mean)}",
                  f"#define MF_FRONTEND_STD {c_float(cfg.std)}"]
    lines += [
        f"#define MF_FRONTEND_INPUT_SCALE {c_float(scale)}",
        f"#define MF_FRONTEND_INPUT_ZERO_POINT ({zp})",
        f"#define MF_FRONTEND_MEL_WEIGHTS {max(1, weights.size)}",
    ]
    if keep_float is not None:
        lines += ["#ifndef MF_FRONTEND_KEEP_FLOAT /* a -D in the build flags still wins */",
                  f"#define MF_FRONTEND_KEEP_FLOAT {1 if keep_float else 0}", "#endif"]
    w = weights if weights.size else np.zeros(1, np.float32)  # C forbids empty arrays
    lines += [
        "",
        "#ifdef MF_FRONTEND_CONFIG_TABLES",
        "/* periodic Hann window */",
        "static const float mf_frontend_window[MF_FRONTEND_WIN] = {",
        c_array_body(cfg.window(), 8), "};",
        "/* cos/sin(2 pi k / n_fft), k < n_fft / 2 */",
        "static const float mf_frontend_twiddle_cos[MF_FRONTEND_N_FFT / 2] = {",
        c_array_body(cos_t, 8), "};",
        "static const float mf_frontend_twiddle_sin[MF_FRONTEND_N_FFT / 2] = {",
        c_array_body(sin_t, 8), "};",
        "/* mel band m sums power[start[m] + j] * weights[offset[m] + j], j < len[m] */",
        "static const uint16_t mf_frontend_mel_start[MF_FRONTEND_MELS] = {",
        c_array_body(starts), "};",
        "static const uint16_t mf_frontend_mel_len[MF_FRONTEND_MELS] = {",
        c_array_body(lengths), "};",
        "static const uint16_t mf_frontend_mel_offset[MF_FRONTEND_MELS] = {",
        c_array_body(offsets), "};",
        "static const float mf_frontend_mel_weights[MF_FRONTEND_MEL_WEIGHTS] = {",
        c_array_body(w, 8), "};",
        "#endif /* MF_FRONTEND_CONFIG_TABLES */",
        "",
        "#endif",
        "",
    ]
    return "\n".join(lines)
