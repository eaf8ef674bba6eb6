"""A keyword RNN fed from audio: the board's log-mel front end (``firmware/frontend/``) hands
each frame, as it completes, to the RNN's windowing (``firmware/rnn/``, MF_RNN_AUDIO), so the
host streams a clip's int16 16 kHz samples instead of its frames and no clip of features is
kept on the device. The host reference is the same clip through ``FeatureConfig.extract``
(the features ``mcuforge train rnn`` trained on) and the numpy twin of the windowing.

    meta = audio_meta(model.meta, board)            # generate(..., audio=True) does this
    result, ticks = send_audio_bag(link, clip)      # BagResult (RNN ticks), front end + RNN ticks
    want = run_bag(graph, rule, host_frames(graph, cfg, clip))
"""
from __future__ import annotations

import numpy as np

from ..data.features import FeatureConfig, fit_length
from ..plan.budget import BudgetError
from .reference import BagResult, frames_for

# The front end's int8 output quantization is unused (the RNN takes its float frames), but the
# config id covers it: one fixed pair, the same in the generated header and the host's check.
INPUT_SCALE, INPUT_ZERO_POINT = 1.0, 0


def feature_config(meta: dict) -> FeatureConfig:
    """The front end an RNN model's frames were made with (recorded by ``save_rnn``)."""
    from ..errors import UsageError

    cfg = meta.get("feature_config") if meta else None
    if cfg is None:
        raise UsageError("--audio: the model records no feature config (it was not trained on a keyword "
                         "folder of 'mcuforge data kws'): stream its frames (without --audio)")
    return cfg if isinstance(cfg, FeatureConfig) else FeatureConfig.from_dict(cfg)


def frontend_ram(cfg: FeatureConfig) -> dict[str, int]:
    """Static RAM the front end adds to an RNN firmware, by buffer (no clip of features kept)."""
    from ..frontend.config import ram_parts

    return ram_parts(cfg, keep_float=False)


def audio_meta(meta: dict | None, board_obj) -> dict:
    """``meta`` marked for audio input, after checking that the model has a feature config and
    that the front end's buffers alone fit the board's RAM (else a BudgetError naming them)."""
    from ..errors import UsageError

    if not meta or meta.get("kind") != "rnn":
        raise UsageError("--audio is for keyword RNN models (.rnn.keras); a BNN keyword model takes audio "
                         "already")
    parts = frontend_ram(feature_config(meta))
    need = sum(parts.values())
    if need > board_obj.ram_bytes:
        detail = ", ".join(f"{k} {v:,}" for k, v in parts.items())
        raise BudgetError(f"--audio: the on-device log-mel front end needs {need:,} bytes of static RAM ({detail}); "
                          f"{board_obj.name} has {board_obj.ram_bytes:,} bytes in all: stream log-mel frames to it "
                          "instead (without --audio)")
    return {**meta, "audio": True}


def render_frontend_header(meta: dict) -> str:
    from ..frontend.config import render_frontend_config

    return render_frontend_config(feature_config(meta), INPUT_SCALE, INPUT_ZERO_POINT, keep_float=False)


def check_frontend(link, meta: dict):
    """Refuse a board whose front end makes other features than the model was trained on."""
    from ..frontend.client import check_config

    return check_config(link, feature_config(meta), INPUT_SCALE, INPUT_ZERO_POINT)


def host_frames(graph, cfg: FeatureConfig, clip_int16) -> np.ndarray:
    """The host reference's frames of one int16 clip: ``FeatureConfig.extract`` (cut or
    zero-padded to the clip length, as the device does), in the board graph's input dtype."""
    from ..frontend.reference import clip_features

    x = fit_length(np.asarray(clip_int16, np.int16), cfg.clip_samples).astype(np.int16)
    return frames_for(graph, clip_features(cfg, x))


def send_audio_bag(link, clip_int16) -> tuple[BagResult, int]:
    """Stream one clip (AUDIO_BEGIN, AUDIO_CHUNKs, AUDIO_END: the board's front end steps the
    instances frame by frame), then BAG_END. -> (the bag as the board decided it, with the RNN's
    ticks; the ticks of the whole clip, front end and RNN). A board that resets meanwhile lost
    the clip: it is sent again (up to the link's retries), as ``send_bag`` does."""
    from ..frontend.client import send_clip
    from .client import RnnMsg, parse_end, resent_on_reset

    def send() -> tuple[BagResult, int]:
        _, ticks = send_clip(link, np.asarray(clip_int16))
        return parse_end(link.request(RnnMsg.BAG_END, timeout=link.invoke_timeout).payload), ticks

    return resent_on_reset(link, send)
