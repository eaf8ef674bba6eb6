"""The audio front end on emulated boards: int16 audio streamed over the link, log-mel
computed by firmware/frontend in C on the device, compared with the numpy features
(FeatureConfig.extract) on espeak-ng words and noise. The firmware wraps an "echo" model
whose output 0 is a copy of its input 0, so an INVOKE + READ_OUTPUT shows the int8 bytes
the model really received."""
from __future__ import annotations

import struct
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import make_fake_project
from mcuforge.data.features import FeatureConfig
from mcuforge.data.kws import speak_word
from mcuforge.flash import open_session
from mcuforge.frontend import (HEADER_NAME, FrontendError, FrontendMsg, check_config, clip_features,
                               expected_input, frontend_info, read_features, render_frontend_config,
                               send_clip)
from mcuforge.frontend import messages as M
from mcuforge.link import LinkError

pytestmark = pytest.mark.qemu

ECHO_MODEL_C = r"""
/* Test model: input 0 is the front end's frames x mels int8; invoke copies it to output 0. */
#include <stdint.h>
#include <string.h>

#include "mf_build_id.h"
#include "mf_frontend_config.h"
#include "mf_model_api.h"

#define N ((uint32_t)MF_FRONTEND_FRAMES * MF_FRONTEND_MELS)

MF_ARENA_DEFINE(2u * N);
#define arena ((int8_t *)mf_arena.bytes)

const mf_io mf_model_inputs[] = {{arena, N, MF_DTYPE_INT8}};
const uint32_t mf_model_num_inputs = 1;
const mf_io mf_model_outputs[] = {{arena + N, N, MF_DTYPE_INT8}};
const uint32_t mf_model_num_outputs = 1;
const uint32_t mf_model_num_layers = 1;
uint32_t mf_layer_cycles[1];
const char *const mf_layer_ops[] = {"COPY"};
const uint32_t mf_arena_bytes = 2u * N;
const char mf_model_name[] = "frontend_echo";
const char mf_firmware_hash[] = MF_BUILD_ID;

int mf_model_invoke(void)
{
    memcpy(arena + N, arena, N);
    return 0;
}
"""

WORDS = [("yes", "en-us", 175, 50), ("three", "en-gb+f2", 140, 70), ("left", "en-gb-scotland+m3", 220, 30),
         ("stop", "en-029+f4", 190, 45)]


def build_frontend_firmware(board: str, dest, cfg: FeatureConfig, scale: float, zp: int, keep_float=None,
                            model_c: str | None = ECHO_MODEL_C):
    dest.mkdir(parents=True, exist_ok=True)
    (dest / HEADER_NAME).write_text(render_frontend_config(cfg, scale, zp, keep_float=keep_float))
    return make_fake_project(board, dest, extensions=["frontend"], model_c=model_c)


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, np.float64) * 32768.0), -32768, 32767).astype(np.int16)


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    """Real espeak-ng words at different levels and places in a 1 s clip, over noise; noise
    alone; silence; a loud clipped word; a short and a long clip."""
    rng = np.random.default_rng(7)
    out = {}
    for i, (word, voice, speed, pitch) in enumerate(WORDS):
        w = speak_word(word, voice, speed, pitch)
        clip = np.zeros(16000)
        start = int(rng.integers(0, 16000 - w.size))
        clip[start:start + w.size] = w / np.abs(w).max() * 10 ** (-(3 + 8 * i) / 20)
        clip += rng.normal(0, 10 ** (-(45 + 5 * i) / 20), 16000)
        out[f"{word}/{voice}"] = _to_int16(clip)
    out["white noise"] = _to_int16(rng.normal(0, 0.05, 16000))
    out["silence"] = np.zeros(16000, np.int16)
    out["clipped yes"] = _to_int16(np.pad(speak_word("yes", "en-us", 175, 50) * 8.0, (2000, 0))[:16000])
    out["short 0.6 s"] = out["white noise"][:9600]
    out["long 1.3 s"] = np.concatenate([out["yes/en-us"], out["white noise"][:4800]])
    return out


def _input_quant(feats: np.ndarray) -> tuple[float, int]:
    """Input scale/zero point as a converter's calibration would pick them from the range."""
    lo, hi = min(float(feats.min()), 0.0), max(float(feats.max()), 0.0)
    scale = (hi - lo) / 255.0
    return scale, int(np.clip(round(-128 - lo / scale), -128, 127))


@pytest.fixture(scope="module")
def kws(clips, tmp_path_factory):
    """The paper's features (98 frames x 64 mels, normalized with the clips' statistics) on
    the STM32F405 (netduinoplus2)."""
    raw = FeatureConfig(hop=160, n_mels=64)
    f = np.stack([clip_features(raw, x) for x in clips.values()])
    cfg = raw.with_stats(float(f.mean()), float(f.std()))
    scale, zp = _input_quant(cfg.normalize(f))
    elf = build_frontend_firmware("netduinoplus2", tmp_path_factory.mktemp("fe-kws"), cfg, scale, zp).elf
    return SimpleNamespace(cfg=cfg, scale=scale, zp=zp, elf=elf, board="netduinoplus2")


def _compare(link, cfg, scale, zp, x, float_features=True) -> dict:
    frames, ticks = send_clip(link, x)
    assert frames == cfg.n_frames
    status, _ = link.invoke()
    assert status == 0
    q = np.frombuffer(link.read_output(0), np.int8).reshape(cfg.shape)
    dq = np.abs(q.astype(int) - expected_input(cfg, x, scale, zp).astype(int))
    row = {"instructions": link.cycle_scale.convert(ticks), "lsb1": int((dq == 1).sum()), "lsb_max": int(dq.max())}
    if float_features:
        f = read_features(link).reshape(cfg.shape)
        row["max_abs"] = float(np.abs(f - clip_features(cfg, x)).max())
    return row


def test_device_features_match_numpy(kws, clips):
    with open_session(kws.elf, kws.board) as s:
        link = s.link()
        info = check_config(link, kws.cfg, kws.scale, kws.zp)
        assert (info.n_frames, info.n_mels, info.normalized, info.keep_float) == (98, 64, True, True)
        assert info.input_zero_point == kws.zp and info.input_scale == np.float32(kws.scale)
        # (a chunk truncated by a host stall is resent: send_clip checks the sample counts)
        rows = {name: _compare(link, kws.cfg, kws.scale, kws.zp, x) for name, x in clips.items()}
    for name, r in rows.items():
        print(f"{name:28s} max|diff| {r['max_abs']:.2e}  int8 off by 1: {r['lsb1']:3d}/6272  "
              f"{r['instructions'] / 1e6:.2f} M emulated instructions")
    # normalized features: a few float32 ulps apart (different FFT and summation order)
    assert max(r["max_abs"] for r in rows.values()) < 1e-4
    assert max(r["lsb_max"] for r in rows.values()) <= 1
    assert sum(r["lsb1"] for r in rows.values()) <= 0.001 * 6272 * len(rows)
    # the work is the same for every 1 s clip (98 frames), whatever the audio
    per_clip = [r["instructions"] for name, r in rows.items() if name not in ("short 0.6 s", "long 1.3 s")]
    assert 1e6 < min(per_clip) and max(per_clip) < 1.05 * min(per_clip) < 2e7, per_clip


def test_streaming_frames_padding_and_resent_chunks(kws, clips):
    cfg, x = kws.cfg, clips["three/en-gb+f2"]

    def chunk(link, first, n):
        return M.parse_chunk_reply(link.request(
            FrontendMsg.AUDIO_CHUNK, M.chunk_payload(first, x[first:first + n].tobytes())).payload)

    with open_session(kws.elf, kws.board) as s:
        link = s.link()
        link.request(FrontendMsg.AUDIO_BEGIN)
        assert frontend_info(link).clip_open
        # a frame is computed as soon as a hop of new samples completes its window
        assert (chunk(link, 0, cfg.win - 1).frames, chunk(link, cfg.win - 1, 1).frames) == (0, 1)
        assert chunk(link, cfg.win, cfg.hop - 1).frames == 1
        st = chunk(link, cfg.win + cfg.hop - 1, 1)
        assert (st.frames, st.samples) == (2, cfg.win + cfg.hop)
        # a resent chunk (its reply was lost) is acknowledged, not applied twice
        assert chunk(link, cfg.win + cfg.hop - 1, 1) == st
        assert chunk(link, 100, 50) == st
        with pytest.raises(LinkError, match="a chunk was lost"):
            chunk(link, st.samples + 1, 10)
        with pytest.raises(LinkError, match="overlaps"):
            chunk(link, st.samples - 2, 10)
        n = 5000
        for first in range(st.samples, n, 500):
            st = chunk(link, first, min(500, n - first))
        assert st.samples == n
        end = M.parse_end_reply(link.request(FrontendMsg.AUDIO_END).payload)
        assert (end.frames, end.samples) == (cfg.n_frames, n) and end.ticks > 0
        assert M.parse_end_reply(link.request(FrontendMsg.AUDIO_END).payload) == end  # END again
        assert not frontend_info(link).clip_open
        with pytest.raises(LinkError, match="already ended"):
            chunk(link, n, 10)
        # the device zero-padded the 5000 samples to a whole clip, as fit_length does
        f = read_features(link).reshape(cfg.shape)
        assert np.abs(f - clip_features(cfg, x[:n])).max() < 1e-4
        assert np.array_equal(read_features(link, 100, offset=6000), f.reshape(-1)[6000:6100])
        # any chunking gives the same bytes
        send_clip(link, x, chunk_samples=37)
        f37 = read_features(link)
        send_clip(link, x)
        assert np.array_equal(f37, read_features(link))


def test_errors_are_named(kws, clips):
    with open_session(kws.elf, kws.board) as s:
        link = s.link()
        with pytest.raises(LinkError, match="no clip open"):
            link.request(FrontendMsg.AUDIO_CHUNK, M.chunk_payload(0, bytes(20)))
        with pytest.raises(LinkError, match="no clip open"):
            link.request(FrontendMsg.AUDIO_END)
        with pytest.raises(LinkError, match="BAD_LENGTH"):
            link.request(FrontendMsg.AUDIO_BEGIN, b"\x00")
        link.request(FrontendMsg.AUDIO_BEGIN)
        with pytest.raises(LinkError, match="BAD_LENGTH.*even length"):
            link.request(FrontendMsg.AUDIO_CHUNK, struct.pack("<I", 0) + b"\x01\x02\x03")
        with pytest.raises(LinkError, match="BAD_LENGTH"):
            link.request(FrontendMsg.AUDIO_CHUNK, b"\x00\x00")
        with pytest.raises(LinkError, match="OUT_OF_RANGE.*past frames x mels"):
            link.request(FrontendMsg.READ_FEATURES, M.read_features_payload(98 * 64 - 10, 11))
        with pytest.raises(LinkError, match="OUT_OF_RANGE.*max payload"):
            link.request(FrontendMsg.READ_FEATURES, M.read_features_payload(0, 257))
        with pytest.raises(FrontendError, match="overrun"):
            read_features(link, 10, offset=98 * 64 - 5)
        with pytest.raises(FrontendError, match="config id"):
            check_config(link, kws.cfg, kws.scale * 1.01, kws.zp)
        with pytest.raises(FrontendError, match="config id"):
            check_config(link, FeatureConfig(), kws.scale, kws.zp)
        with pytest.raises(FrontendError, match="int16 PCM samples, got float32"):
            send_clip(link, clips["silence"].astype(np.float32))
        with pytest.raises(FrontendError, match="1-D"):
            send_clip(link, np.zeros((2, 100), np.int16))
        with pytest.raises(FrontendError, match="chunk_samples=600 must be in 1..510"):
            send_clip(link, clips["silence"], chunk_samples=600)
        assert link.ping(b"still fine") == b"still fine"
        assert link.stats.retries == 0


def test_default_config_on_mps2_without_float_buffer(clips, tmp_path):
    """The default 49 x 40 un-normalized features, another board, and the float buffer
    compiled out (MF_FRONTEND_KEEP_FLOAT 0): the int8 model input is still exact."""
    cfg, scale, zp = FeatureConfig(), 0.1, 20
    elf = build_frontend_firmware("mps2-an386", tmp_path, cfg, scale, zp, keep_float=False).elf
    with open_session(elf, "mps2-an386") as s:
        link = s.link()
        info = check_config(link, cfg, scale, zp)
        assert (info.n_frames, info.n_mels, info.normalized, info.keep_float) == (49, 40, False, False)
        assert FrontendMsg.READ_FEATURES not in link.hello().message_types
        with pytest.raises(FrontendError, match="MF_FRONTEND_KEEP_FLOAT=0"):
            read_features(link)
        rows = [_compare(link, cfg, scale, zp, clips[k], float_features=False)
                for k in ("yes/en-us", "white noise", "short 0.6 s", "clipped yes")]
    assert max(r["lsb_max"] for r in rows) <= 1 and sum(r["lsb1"] for r in rows) <= 4, rows
    print("default config on mps2-an386:", [f"{r['instructions'] / 1e6:.2f} M" for r in rows])


def test_model_input_that_is_not_the_features_is_refused(tmp_path):
    """A model whose input 0 is not frames x mels int8 (the platform's fake model) gets a
    clear error instead of features written out of bounds."""
    elf = build_frontend_firmware("netduinoplus2", tmp_path, FeatureConfig(), 0.1, 0, model_c=None).elf
    with open_session(elf, "netduinoplus2") as s:
        link = s.link()
        with pytest.raises(LinkError, match="BAD_INDEX.*not the front end's frames x mels int8"):
            send_clip(link, np.zeros(16000, np.int16))
        assert link.ping(b"ok") == b"ok"
