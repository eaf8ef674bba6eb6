"""The front end's generated header (mf_frontend_config.h) and its C, on the host: the
tables parse back to the numpy ones, the header compiles cleanly, and the front end C
built with the native gcc gives the numpy features (the same C then runs on QEMU in
test_frontend_qemu.py)."""
from __future__ import annotations

import ctypes
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mcuforge.data.features import FeatureConfig
from mcuforge.frontend import config_id, expected_input, clip_features, render_frontend_config
from mcuforge.codegen.c_literals import c_float
from mcuforge.frontend.config import mel_runs, twiddles

REPO = Path(__file__).resolve().parents[1]
FRONTEND = REPO / "firmware" / "frontend"
CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC"]

KWS = FeatureConfig(hop=160, n_mels=64).with_stats(-9.0, 4.5)  # the paper's 98 x 64
DEFAULT = FeatureConfig()                                      # 49 x 40, not normalized


def _array(header: str, name: str) -> np.ndarray:
    m = re.search(rf"{name}\[[^\]]*\] = \{{(.*?)\}};", header, re.S)
    assert m, f"{name} not in the header"
    items = [s.strip() for s in m.group(1).split(",") if s.strip()]
    if items[0].endswith("f"):
        return np.array([np.float32(s[:-1]) for s in items], np.float32)
    return np.array([int(s) for s in items])


def _define(header: str, name: str) -> str:
    m = re.search(rf"^#define {name} (.+)$", header, re.M)
    assert m, f"#define {name} not in the header"
    return m.group(1)


# ---------------------------------------------------------------- rendering


@pytest.mark.parametrize("cfg", [KWS, DEFAULT], ids=["98x64", "default"])
def test_header_tables_are_the_numpy_ones(cfg):
    h = render_frontend_config(cfg, 0.05, -3)
    assert _define(h, "MF_FRONTEND_FRAMES") == str(cfg.n_frames)
    assert _define(h, "MF_FRONTEND_MELS") == str(cfg.n_mels)
    assert _define(h, "MF_FRONTEND_WIN") == str(cfg.win) and _define(h, "MF_FRONTEND_HOP") == str(cfg.hop)
    assert _define(h, "MF_FRONTEND_NORMALIZED") == ("1" if cfg.normalized else "0")
    assert ("MF_FRONTEND_MEAN" in h) == cfg.normalized
    assert _define(h, "MF_FRONTEND_INPUT_ZERO_POINT") == "(-3)"
    assert np.float32(_define(h, "MF_FRONTEND_INPUT_SCALE")[:-1]) == np.float32(0.05)
    assert _define(h, "MF_FRONTEND_CONFIG_ID") == f"0x{config_id(cfg, 0.05, -3):08x}u"
    assert "MF_FRONTEND_KEEP_FLOAT" not in h
    assert np.array_equal(_array(h, "mf_frontend_window"), cfg.window())
    cos_t, sin_t = twiddles(cfg.n_fft)
    assert np.array_equal(_array(h, "mf_frontend_twiddle_cos"), cos_t)
    assert np.array_equal(_array(h, "mf_frontend_twiddle_sin"), sin_t)
    # the sparse runs rebuild the dense filterbank exactly
    start, length, offset = (_array(h, f"mf_frontend_mel_{n}") for n in ("start", "len", "offset"))
    weights = _array(h, "mf_frontend_mel_weights")
    dense = np.zeros_like(cfg.filterbank())
    for m in range(cfg.n_mels):
        dense[start[m]:start[m] + length[m], m] = weights[offset[m]:offset[m] + length[m]]
    assert np.array_equal(dense, cfg.filterbank())
    assert weights.size == int(_define(h, "MF_FRONTEND_MEL_WEIGHTS")) < dense.size // 10  # sparse


def test_c_float_round_trips_exactly():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.standard_normal(2000).astype(np.float32) * 10.0 ** rng.integers(-30, 30, 2000),
                             np.array([0.0, -0.0, 1.0, 1e-6, 100000000.0, 3.4028235e38, 1e-45], np.float32)])
    for v in values.astype(np.float32):
        s = c_float(v)
        assert s.endswith("f") and re.fullmatch(r"-?[0-9.]+(e[-+][0-9]+)?f", s), s
        assert np.float32(s[:-1]) == v
    with pytest.raises(ValueError, match="finite"):
        c_float(float("inf"))


def test_keep_float_option_and_config_id():
    assert _define(render_frontend_config(KWS, 0.05, 0, keep_float=False), "MF_FRONTEND_KEEP_FLOAT") == "0"
    assert _define(render_frontend_config(KWS, 0.05, 0, keep_float=True), "MF_FRONTEND_KEEP_FLOAT") == "1"
    base = config_id(KWS, 0.05, 0)
    assert base == config_id(FeatureConfig(hop=160, n_mels=64).with_stats(-9.0, 4.5), 0.05, 0)
    others = {config_id(KWS, 0.051, 0), config_id(KWS, 0.05, 1), config_id(DEFAULT, 0.05, 0),
              config_id(KWS.with_stats(-9.0, 4.6), 0.05, 0), config_id(FeatureConfig(hop=160, n_mels=64), 0.05, 0)}
    assert base not in others and len(others) == 5


@pytest.mark.parametrize("args, match", [
    ((KWS, 0.0, 0), "input_scale"),
    ((KWS, float("nan"), 0), "input_scale"),
    ((KWS, "0.1", 0), "input_scale"),
    ((KWS, 0.1, 128), "input_zero_point"),
    ((KWS, 0.1, 1.5), "input_zero_point"),
    ((FeatureConfig(win=2, n_fft=2, n_mels=1, fmax=100.0, clip_samples=100), 0.1, 0), "n_fft=2 must be >= 4"),
    ((FeatureConfig(hop=1, clip_samples=70000), 0.1, 0), "n_frames=69601 exceeds 65535"),
])
def test_bad_arguments_are_named(args, match):
    with pytest.raises(ValueError, match=match):
        render_frontend_config(*args)


def test_not_a_feature_config():
    with pytest.raises(TypeError, match="FeatureConfig"):
        render_frontend_config({"hop": 160}, 0.1, 0)


# ---------------------------------------------------------------- the C on the host


def _compile(tmp: Path, header: str, name: str, defines=()) -> ctypes.CDLL:
    (tmp / "mf_frontend_config.h").write_text(header)
    # a second file including the header without its tables: no unused-table warnings
    (tmp / "other.c").write_text('#include "mf_frontend.h"\nint other_frames(void) { return MF_FRONTEND_FRAMES; }\n')
    lib = tmp / f"lib{name}.so"
    cmd = ["gcc", *CFLAGS, "-shared", *[f"-D{d}" for d in defines], f"-I{tmp}", f"-I{FRONTEND}", "-o", str(lib),
           str(FRONTEND / "mf_frontend.c"), str(FRONTEND / "mf_rfft.c"), str(tmp / "other.c"), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    dll = ctypes.CDLL(str(lib))
    dll.mf_frontend_features.restype = ctypes.POINTER(ctypes.c_float)
    dll.mf_frontend_push.restype = ctypes.c_uint32
    dll.mf_frontend_end.restype = ctypes.c_uint32
    dll.mf_frontend_samples.restype = ctypes.c_uint32
    return dll


def _run(lib, cfg, x: np.ndarray, chunk: int):
    """Stream x through the C front end -> (frames per push, float features, int8 features)."""
    q = np.full(cfg.n_frames * cfg.n_mels + 16, 0x55, np.uint8).view(np.int8)  # guard bytes at the end
    lib.mf_frontend_begin(q.ctypes.data_as(ctypes.c_void_p))
    progress = []
    for pos in range(0, x.size, chunk):
        c = np.ascontiguousarray(x[pos:pos + chunk], np.int16)
        progress.append(lib.mf_frontend_push(c.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint32(c.size)))
    assert lib.mf_frontend_end() == cfg.n_frames
    assert lib.mf_frontend_samples() == x.size
    assert (q[-16:].view(np.uint8) == 0x55).all(), "front end wrote past the model input"
    ptr = lib.mf_frontend_features()
    f = np.ctypeslib.as_array(ptr, shape=(cfg.n_frames * cfg.n_mels,)).copy() if ptr else None
    return progress, f, q[:-16].copy()


def _clips(rng) -> dict[str, np.ndarray]:
    t = np.arange(16000) / 16000.0
    chirp = 12000 * np.sin(2 * np.pi * (200 * t + 3000 * t * t))
    return {
        "silence": np.zeros(16000, np.int16),
        "full-scale noise": rng.integers(-32768, 32768, 16000).astype(np.int16),
        "quiet noise": rng.integers(-3, 4, 16000).astype(np.int16),
        "chirp+noise": np.round(chirp + rng.normal(0, 50, 16000)).astype(np.int16),
        "short (padded)": rng.integers(-2000, 2000, 7001).astype(np.int16),
        "long (cut)": rng.integers(-2000, 2000, 20000).astype(np.int16),
    }


TINY = FeatureConfig(n_fft=64, win=64, n_mels=64, fmin=0.0)  # bands without any bin


@pytest.mark.parametrize("cfg, scale, zp", [(KWS, 0.04, -2), (DEFAULT, 0.1, 20), (TINY, 0.1, 20)],
                         ids=["98x64", "default", "empty-bands"])
def test_host_c_matches_numpy(cfg, scale, zp, tmp_path):
    lib = _compile(tmp_path, render_frontend_config(cfg, scale, zp), "fe")
    rng = np.random.default_rng(1)
    for name, x in _clips(rng).items():
        _, f, q = _run(lib, cfg, x, 333)
        ref = clip_features(cfg, x)
        err = np.abs(f.reshape(cfg.shape) - ref)
        # pure tones/chirps have ~100 dB of dynamic range: float32 FFT rounding shows in the
        # weakest bands; broadband audio agrees to a few float32 ulps
        assert err.max() < (1e-3 if "chirp" in name else 1e-5), (name, err.max())
        dq = np.abs(q.reshape(cfg.shape).astype(int) - expected_input(cfg, x, scale, zp).astype(int))
        assert dq.max() <= 1 and (dq == 1).mean() < 0.002, (name, dq.max(), (dq == 1).sum())


def test_host_c_streaming_is_chunk_independent(tmp_path):
    cfg = KWS
    lib = _compile(tmp_path, render_frontend_config(cfg, 0.04, -2), "fe")
    x = np.random.default_rng(2).integers(-5000, 5000, 16000).astype(np.int16)
    base = None
    for chunk in (1, 37, 160, 512, 16000):
        progress, f, q = _run(lib, cfg, x, chunk)
        # a frame is computed as soon as its window is complete
        ends = np.minimum(np.arange(chunk, x.size + chunk, chunk), x.size)
        want = np.where(ends >= cfg.win, 1 + (ends - cfg.win) // cfg.hop, 0)
        assert progress == list(np.minimum(want, cfg.n_frames)), chunk
        if base is None:
            base = (f, q)
        assert np.array_equal(f, base[0]) and np.array_equal(q, base[1]), chunk


def test_host_c_without_float_buffer(tmp_path):
    cfg = DEFAULT
    header = render_frontend_config(cfg, 0.1, 20, keep_float=False)
    lib = _compile(tmp_path, header, "fe_nofloat")
    x = np.random.default_rng(3).integers(-3000, 3000, 16000).astype(np.int16)
    _, f, q = _run(lib, cfg, x, 500)
    assert f is None  # mf_frontend_features() returns NULL
    dq = np.abs(q.reshape(cfg.shape).astype(int) - expected_input(cfg, x, 0.1, 20).astype(int))
    assert dq.max() <= 1


@pytest.mark.parametrize("n", [4, 8, 64, 512, 2048])
def test_rfft_power_matches_numpy(n, tmp_path):
    lib_path = tmp_path / "librfft.so"
    r = subprocess.run(["gcc", *CFLAGS, "-shared", f"-I{FRONTEND}", "-o", str(lib_path),
                        str(FRONTEND / "mf_rfft.c")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lib = ctypes.CDLL(str(lib_path))
    cos_t, sin_t = twiddles(n)
    rng = np.random.default_rng(n)
    for _ in range(5):
        x = rng.standard_normal(n).astype(np.float32)
        buf, power = x.copy(), np.zeros(n // 2 + 1, np.float32)
        f = ctypes.c_void_p
        lib.mf_rfft_power(buf.ctypes.data_as(f), ctypes.c_uint32(n), cos_t.ctypes.data_as(f),
                          sin_t.ctypes.data_as(f), power.ctypes.data_as(f))
        ref = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
        assert np.allclose(power, ref, rtol=0, atol=1e-5 * ref.max()), n


def test_mel_runs_empty_band():
    # 64 bands on a 64-point FFT: some low triangles fall between bins and get no weight
    cfg = TINY
    start, length, offset, w = mel_runs(cfg)
    assert (length == 0).any() and w.size == int(length.sum())
    assert (cfg.filterbank()[:, length == 0] == 0).all()
