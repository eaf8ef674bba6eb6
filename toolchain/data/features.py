"""Log-mel spectrogram in plain numpy, written step by step so it can be ported to C as is.

Steps per clip: frame -> periodic Hann window -> zero-padded rfft -> power |X|^2 ->
triangular mel filterbank -> log(x + eps) -> optional normalization (x - mean) / std.

Framing choice: 25 ms window (400 samples at 16 kHz), 20 ms hop (320 samples), no padding, so a
1 s clip gives exactly 1 + (16000 - 400) // 320 = 49 frames (the last 240 samples are not used).
A 10 ms hop would give 98 frames and double every activation of the DS-CNN (arena ~125 KB instead
of ~50 KB on the STM32F405), so the 49-frame input of "Hello Edge" is kept with a 20 ms hop.
Any other framing is one FeatureConfig away (hop=160 gives 98 frames).

The mel scale is HTK's (mel = 2595 log10(1 + f / 700)) and the triangles are linear in mel, as in
HTK and tf.signal.linear_to_mel_weight_matrix; filters are not area-normalized.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..jsonfile import read_object

_CHUNK = 256  # clips per rfft batch: bounds memory to ~30 MB whatever the dataset size


@dataclass(frozen=True)
class FeatureConfig:
    """Everything needed to turn a clip into the model's input; stored next to every model.

    ``mean``/``std`` are the normalization statistics of the training set (scalars over all
    frames and mel bands, so the device needs two numbers); None until a model is trained.
    """

    sample_rate: int = 16000
    win: int = 400          # samples per frame (25 ms)
    hop: int = 320          # samples between frames (20 ms)
    n_fft: int = 512        # rfft length; frames are zero-padded from win to n_fft
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float = 8000.0
    eps: float = 1e-6       # log floor: log(power + eps)
    clip_samples: int = 16000  # every clip is padded/cut to this length (1 s)
    mean: float | None = None
    std: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.sample_rate <= 0:
            problems.append(f"sample_rate={self.sample_rate} must be > 0")
        if not 0 < self.win <= self.n_fft:
            problems.append(f"win={self.win} must be in 1..n_fft ({self.n_fft})")
        if self.n_fft & (self.n_fft - 1):
            problems.append(f"n_fft={self.n_fft} must be a power of two (the device FFT needs it)")
        if self.hop <= 0:
            problems.append(f"hop={self.hop} must be > 0")
        if self.n_mels <= 0:
            problems.append(f"n_mels={self.n_mels} must be > 0")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            problems.append(f"need 0 <= fmin ({self.fmin}) < fmax ({self.fmax}) <= sample_rate/2")
        if self.clip_samples < self.win:
            problems.append(f"clip_samples={self.clip_samples} is shorter than one window ({self.win})")
        if self.eps <= 0:
            problems.append(f"eps={self.eps} must be > 0")
        if (self.mean is None) != (self.std is None):
            problems.append("mean and std must be set together")
        if self.std is not None and not self.std > 0:
            problems.append(f"std={self.std} must be > 0")
        if problems:
            raise ValueError("bad FeatureConfig: " + "; ".join(problems))

    @property
    def n_frames(self) -> int:
        return 1 + (self.clip_samples - self.win) // self.hop

    @property
    def shape(self) -> tuple[int, int]:
        """Feature shape of one clip: (frames, mel bands)."""
        return (self.n_frames, self.n_mels)

    @property
    def normalized(self) -> bool:
        return self.mean is not None

    def with_stats(self, mean: float, std: float) -> "FeatureConfig":
        return replace(self, mean=float(mean), std=float(std))

    def window(self) -> np.ndarray:
        return hann_window(self.win)

    def filterbank(self) -> np.ndarray:
        """(n_fft // 2 + 1, n_mels) float32 weights."""
        return mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.fmin, self.fmax)

    def log_mel(self, waves: np.ndarray) -> np.ndarray:
        return log_mel(waves, self)

    def normalize(self, feats: np.ndarray) -> np.ndarray:
        if not self.normalized:
            raise ValueError("FeatureConfig has no normalization statistics (train a model first)")
        return ((np.asarray(feats, np.float32) - np.float32(self.mean)) / np.float32(self.std)).astype(np.float32)

    def extract(self, waves: np.ndarray) -> np.ndarray:
        """Model input features: log-mel, normalized when the config carries statistics."""
        f = log_mel(waves, self)
        return self.normalize(f) if self.normalized else f

    # --- storage (JSON next to the model) ---
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown FeatureConfig keys: {unknown}")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "FeatureConfig":
        """A file as ``save`` writes it, naming every field: one left out is refused, not taken as
        its default, since the model was trained with the values the file records (the DS-CNN of
        'mcuforge train' uses hop 160, not 320, and its normalization statistics)."""
        d = read_object(path, "a features config")
        missing = [f.name for f in fields(cls) if f.name not in d]
        if missing:
            raise ValueError(f"{path} lacks {', '.join(missing)}: a features config names every field "
                             "(as 'mcuforge train' writes it beside the model)")
        wrong = [f"{f.name} must be {kind}, not {d[f.name]!r}" for f in fields(cls)
                 for kind in [_kind(f.default)] if not _is_kind(d[f.name], f.default)]
        if wrong:
            raise ValueError(f"{path}: " + "; ".join(wrong))
        try:
            return cls.from_dict(d)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None


def _kind(default) -> str:
    return ("an integer" if isinstance(default, int) else "a number") + (" or null" if default is None else "")


def _is_kind(value, default) -> bool:
    """``value`` (read from JSON) has the type of the field whose default is ``default``."""
    if value is None or isinstance(value, bool):
        return value is None and default is None
    return isinstance(value, int) or not isinstance(default, int) and isinstance(value, float)


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def hann_window(n: int) -> np.ndarray:
    """Periodic Hann window w[i] = 0.5 - 0.5 cos(2 pi i / n) (the spectral-analysis form)."""
    i = np.arange(n, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * i / n)).astype(np.float32)


@lru_cache(maxsize=16)
def _filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    # n_mels + 2 edges equally spaced in mel; filter m rises from edge m to m+1, falls to m+2.
    edges = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    bin_mel = hz_to_mel(np.arange(n_fft // 2 + 1) * sample_rate / n_fft)[:, None]
    lo, center, hi = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    rising = (bin_mel - lo) / (center - lo)
    falling = (hi - bin_mel) / (hi - center)
    w = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    w.flags.writeable = False
    return w


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular mel filterbank, (n_fft // 2 + 1, n_mels), triangles linear in HTK mel."""
    return _filterbank(int(sample_rate), int(n_fft), int(n_mels), float(fmin), float(fmax))


def fit_length(waves: np.ndarray, n: int) -> np.ndarray:
    """Zero-pad at the end or cut to n samples along the last axis (Speech Commands clips can be short)."""
    waves = np.asarray(waves)
    if waves.shape[-1] >= n:
        return waves[..., :n]
    pad = [(0, 0)] * (waves.ndim - 1) + [(0, n - waves.shape[-1])]
    return np.pad(waves, pad)


def log_mel(waves: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Log-mel features of float waveforms in [-1, 1].

    waves: (samples,) or (clips, samples); clips are padded/cut to cfg.clip_samples.
    Returns float32 (frames, n_mels) or (clips, frames, n_mels). Never normalized (see extract).
    """
    x = np.asarray(waves)
    if x.dtype == np.int16:
        raise ValueError("log_mel expects float samples in [-1, 1]; convert int16 with wav.to_float")
    if x.ndim not in (1, 2):
        raise ValueError(f"log_mel expects (samples,) or (clips, samples), got shape {x.shape}")
    single = x.ndim == 1
    x = fit_length(np.atleast_2d(x).astype(np.float32, copy=False), cfg.clip_samples)
    window, fb = cfg.window(), cfg.filterbank()
    out = np.empty((x.shape[0], cfg.n_frames, cfg.n_mels), np.float32)
    for s in range(0, x.shape[0], _CHUNK):
        chunk = x[s:s + _CHUNK]
        # (clips, frames, win): frame i starts at i * hop; frames past the end are not formed.
        frames = np.lib.stride_tricks.sliding_window_view(chunk, cfg.win, axis=-1)[:, ::cfg.hop][:, :cfg.n_frames]
        spec = np.fft.rfft(frames * window, n=cfg.n_fft, axis=-1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        out[s:s + _CHUNK] = np.log(power @ fb + np.float32(cfg.eps))
    return out[0] if single else out
