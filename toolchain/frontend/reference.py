"""What the device front end should produce, computed on the host with numpy: the model's
features (``FeatureConfig.extract``) and their int8 quantization, step for step as the C does."""
from __future__ import annotations

import numpy as np

from ..data.features import FeatureConfig
from ..data.wav import to_float


def quantize_features(feats, input_scale: float, input_zero_point: int) -> np.ndarray:
    """q = clamp(sign(v) floor(|v| + 0.5) + zp, -128, 127), v = x / scale, all in float32
    (as mcuforge.train.convert.quantize_input and firmware/frontend/mf_frontend.c)."""
    v = np.asarray(feats, np.float32) / np.float32(input_scale)
    q = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5)) + np.float32(input_zero_point)
    return np.clip(q, -128, 127).astype(np.int8)


def clip_features(cfg: FeatureConfig, samples_int16) -> np.ndarray:
    """Float32 (frames, mels) features of one int16 clip, as the device computes them."""
    x = np.asarray(samples_int16)
    if x.dtype != np.int16 or x.ndim != 1:
        raise ValueError(f"clip_features takes one 1-D int16 clip, got {x.dtype} {x.shape}")
    return cfg.extract(to_float(x))


def expected_input(cfg: FeatureConfig, samples_int16, input_scale: float,
                   input_zero_point: int) -> np.ndarray:
    """The int8 (frames, mels) model input the device writes for one int16 clip."""
    return quantize_features(clip_features(cfg, samples_int16), input_scale, input_zero_point)
