"""16-bit PCM WAV files, read and written with the standard library only."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def read_wav(path: str | Path) -> tuple[int, np.ndarray]:
    """Return (sample_rate, int16 samples) of a mono 16-bit PCM WAV file.

    Anything else (stereo, 8/24/32-bit, compressed, not a WAV) is a ValueError naming the file,
    because silently converting would hide a dataset problem.
    """
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as f:
            channels, width, rate, n = f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()
            raw = f.readframes(n)
    except (wave.Error, EOFError) as e:
        raise ValueError(f"{path}: not a PCM WAV file ({e})") from None
    if channels != 1:
        raise ValueError(f"{path}: {channels} channels; keyword clips must be mono")
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit samples; keyword clips must be 16-bit PCM")
    return rate, np.frombuffer(raw, dtype="<i2").astype(np.int16)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write int16 (or float in [-1, 1], clipped) samples as a mono 16-bit PCM WAV file."""
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"write_wav expects 1-D samples, got shape {x.shape}")
    if x.dtype != np.int16:
        x = np.clip(np.round(np.asarray(x, np.float64) * 32767.0), -32768, 32767).astype(np.int16)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sample_rate))
        f.writeframes(x.astype("<i2").tobytes())


def to_float(samples: np.ndarray) -> np.ndarray:
    """int16 -> float32 in [-1, 1) (divide by 32768, the convention of TF's decode_wav)."""
    return np.asarray(samples, np.float32) / np.float32(32768.0)
