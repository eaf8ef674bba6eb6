"""Augmented views of log-mel clips, for training: time shift, speed perturbation, SpecAugment masks.

One writer for both users: the BNN's pretraining (:mod:`mcuforge.train.bnn`, every epoch a fresh
view of each float clip) and few-shot adaptation (:mod:`mcuforge.train.adapt`, views of a task's
int8 support inputs, :func:`int8_views`). Clips are (clips, frames, mels), normalized: 0 is the
training set's mean, which is what a mask writes.
"""
from __future__ import annotations

import numpy as np


def time_shift(X: np.ndarray, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    """Shift each clip by up to max_shift frames, filling with the clip's own edge frames."""
    if max_shift <= 0:
        return X
    out = np.empty_like(X)
    n = X.shape[1]
    for i, s in enumerate(rng.integers(-max_shift, max_shift + 1, size=len(X))):
        idx = np.clip(np.arange(n) - s, 0, n - 1)
        out[i] = X[i, idx]
    return out


def speed_perturb(X: np.ndarray, rng: np.random.Generator, speed: float) -> np.ndarray:
    """Play each clip up to ``speed`` (a fraction) faster or slower: its frames resampled about the
    clip's middle by linear interpolation, the edges held (a speed perturbation on the features)."""
    if speed <= 0:
        return X
    n = X.shape[1]
    mid = (n - 1) / 2
    out = np.empty_like(X)
    for i, f in enumerate(rng.uniform(1 - speed, 1 + speed, size=len(X))):
        pos = np.clip(mid + (np.arange(n) - mid) * f, 0, n - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        w = (pos - lo)[:, None].astype(X.dtype)
        out[i] = X[i, lo] * (1 - w) + X[i, hi] * w
    return out


def spec_mask(X: np.ndarray, rng: np.random.Generator, freq_mask: int, time_mask: int) -> np.ndarray:
    """SpecAugment-style masks: per clip one band of up to ``freq_mask`` mel bands and one span of
    up to ``time_mask`` frames set to 0, the normalized features' mean."""
    if freq_mask <= 0 and time_mask <= 0:
        return X
    out = X.copy()
    for axis, most in ((2, freq_mask), (1, time_mask)):
        if most <= 0:
            continue
        size = X.shape[axis]
        widths = rng.integers(0, min(most, size) + 1, size=len(X))
        for i, w in enumerate(widths):
            start = int(rng.integers(0, size - w + 1))
            if axis == 2:
                out[i, :, start:start + w] = 0
            else:
                out[i, start:start + w] = 0
    return out


def augment(X: np.ndarray, rng: np.random.Generator, max_shift: int, speed: float = 0.0, freq_mask: int = 0,
            time_mask: int = 0) -> np.ndarray:
    """One epoch's view of the clips: time shift, then speed perturbation, then masks (each off at 0,
    and then it draws nothing from rng, so a default run is the same as before they existed)."""
    return spec_mask(speed_perturb(time_shift(X, rng, max_shift), rng, speed), rng, freq_mask, time_mask)


def frames_mels(shape) -> tuple[int, int]:
    """(frames, mels) of a model input shape that holds them and 1s; a ValueError names any other."""
    dims = [int(d) for d in shape if d != 1]
    if len(dims) != 2:
        raise ValueError(f"augmenting needs a (frames, mels) input; this model's is {tuple(shape)}")
    return dims[0], dims[1]


def int8_views(x: np.ndarray, scale: float, zero_point: int, views: int, rng: np.random.Generator,
               max_shift: int, speed: float = 0.0, freq_mask: int = 0, time_mask: int = 0) -> list[np.ndarray]:
    """``views`` augmented copies of one int8 model input ``x`` (its shape holds frames x mels and
    1s): dequantized, augmented as :func:`augment`, quantized back as the front end quantizes."""
    from ..frontend.reference import quantize_features

    real = (x.astype(np.float32).reshape(1, *frames_mels(x.shape)) - np.float32(zero_point)) * np.float32(scale)
    out = augment(np.repeat(real, views, axis=0), rng, max_shift, speed, freq_mask, time_mask)
    return [quantize_features(v, scale, zero_point).reshape(x.shape) for v in out]
