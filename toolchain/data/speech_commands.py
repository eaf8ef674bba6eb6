"""Load any folder in the Google Speech Commands layout as (features, label indices, files).

Layout: ``DIR/<word>/*.wav`` (16 kHz mono 16-bit, up to 1 s; shorter clips are zero-padded),
optional ``DIR/validation_list.txt`` / ``DIR/testing_list.txt`` (without them the split of a file
comes from Speech Commands' hash of its speaker id), optional ``DIR/_background_noise_/*.wav``.

Labels are folder names plus two special classes:
- "unknown": the clips of ``DIR/unknown/`` if it exists, plus every word folder that is not a label
  (only when "unknown" is a label);
- "silence": the clips of ``DIR/silence/`` if it exists, else 1 s slices of the background noise
  files (as many as the average keyword class of the split; each split slices its own time region
  of every noise file, so no audio is shared between splits).
Folders starting with "_" (such as ``_background_noise_``) are never words.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import splits
from .features import FeatureConfig, fit_length
from .wav import read_wav, to_float

SILENCE, UNKNOWN = "silence", "unknown"
NOISE_DIR = "_background_noise_"
DEFAULT_LABELS = (SILENCE, UNKNOWN, "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")

_DEFAULT_FEATURES = object()  # sentinel: FeatureConfig() unless the caller passes one or None


def _wavs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".wav")


def word_folders(data_dir: str | Path) -> dict[str, list[Path]]:
    """{folder name: wav files} of every word folder (not "_..." and not "silence")."""
    root = Path(data_dir)
    if not root.exists():
        raise FileNotFoundError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    out = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if d.name.startswith("_") or d.name.startswith(".") or d.name == SILENCE:
            continue
        files = _wavs(d)
        if files:
            out[d.name] = files
    if not out:
        raise ValueError(f"{root} is not in the Speech Commands layout: expected word folders "
                         f"{root}/<word>/*.wav, found none")
    return out


def _check_labels(labels, words: dict, root: Path) -> list[str]:
    labels = list(labels)
    if not labels:
        raise ValueError("labels is empty")
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels in {labels}")
    missing = [lab for lab in labels if lab not in (SILENCE, UNKNOWN) and lab not in words]
    if missing:
        raise ValueError(f"no folder of .wav clips for label(s) {missing} in {root}; "
                         f"word folders there: {sorted(words)}")
    if UNKNOWN in labels and UNKNOWN not in words and not [w for w in words if w not in labels]:
        raise ValueError(f"label 'unknown' needs {root}/{UNKNOWN}/*.wav or word folders that are not labels "
                         f"in {root}; all of {sorted(words)} are labels")
    return labels


def _read_clip(path: Path, sample_rate: int, n: int) -> np.ndarray:
    rate, pcm = read_wav(path)
    if rate != sample_rate:
        raise ValueError(f"{path}: sample rate {rate} Hz; the features expect {sample_rate} Hz")
    return fit_length(to_float(pcm), n)


def _silence_from_noise(root: Path, split: str, count: int, sample_rate: int, n: int, seed: int):
    noise_dir = root / NOISE_DIR
    files = _wavs(noise_dir) if noise_dir.is_dir() else []
    if not files:
        raise ValueError(f"label 'silence' needs {root}/silence/*.wav or {root}/{NOISE_DIR}/*.wav; found neither")
    usable = []
    for p in files:
        rate, pcm = read_wav(p)
        if rate != sample_rate:
            raise ValueError(f"{p}: sample rate {rate} Hz; the features expect {sample_rate} Hz")
        lo, hi = splits.noise_region(pcm.size, split)
        if hi - lo >= n:
            usable.append((p, to_float(pcm)))
    if not usable:
        raise ValueError(f"the {NOISE_DIR} files of {root} are too short to cut {n}-sample silence clips "
                         f"from their '{split}' region ({splits.NOISE_REGIONS[split]} of each file)")
    rng = np.random.default_rng([seed, splits.SPLITS.index(split)])
    clips, names = [], []
    for i in range(count):
        p, x = usable[i % len(usable)]
        lo, hi = splits.noise_region(x.size, split)
        start = int(rng.integers(lo, hi - n + 1))
        # Random level, down to near-digital silence, like the "silence" of a quiet room.
        gain = 10 ** (rng.uniform(-40.0, 0.0) / 20)
        clips.append((x[start:start + n] * gain).astype(np.float32))
        names.append(f"{NOISE_DIR}/{p.name}@{start}")
    return clips, names


def list_split(data_dir: str | Path, labels, split: str = "train") -> tuple[list[str], list[int]]:
    """(relative wav paths, label indices) of one split, without reading audio."""
    root = Path(data_dir)
    splits.check_split(split)
    words = word_folders(root)
    labels = _check_labels(labels, words, root)
    listed = splits.read_split_lists(root)

    def split_of(rel: str) -> str:
        return listed.get(rel, "train") if listed is not None else splits.which_set(rel)

    index = {lab: i for i, lab in enumerate(labels)}
    files, y = [], []
    for word, paths in words.items():
        label = word if word in index else UNKNOWN if UNKNOWN in index else None
        if label is None:
            continue
        for p in paths:
            rel = f"{word}/{p.name}"
            if split_of(rel) == split:
                files.append(rel)
                y.append(index[label])
    if SILENCE in index and (root / SILENCE).is_dir():
        for p in _wavs(root / SILENCE):
            rel = f"{SILENCE}/{p.name}"
            if split_of(rel) == split:
                files.append(rel)
                y.append(index[SILENCE])
    return files, y


def load_split(data_dir: str | Path, labels=DEFAULT_LABELS, split: str = "train",
               features: FeatureConfig | None = _DEFAULT_FEATURES, seed: int = 0):
    """Load one split: returns (X, y, files).

    X: float32 features (clips, frames, n_mels) from ``features.extract`` (normalized only if the
    config carries training statistics), or the float waveforms (clips, samples) if features is
    None. y: int64 index into ``labels``. files: paths relative to data_dir (a silence slice cut
    from background noise is named "_background_noise_/<file>@<start sample>").
    """
    root = Path(data_dir)
    cfg = FeatureConfig() if features is _DEFAULT_FEATURES else features
    rate = cfg.sample_rate if cfg is not None else 16000
    n = cfg.clip_samples if cfg is not None else rate
    files, y = list_split(root, labels, split)
    labels = list(labels)
    waves = [_read_clip(root / rel, rate, n) for rel in files]
    if SILENCE in labels and not (root / SILENCE).is_dir():
        word_counts = [y.count(i) for i, lab in enumerate(labels) if lab not in (SILENCE, UNKNOWN)]
        count = max(1, round(float(np.mean(word_counts)))) if word_counts else max(1, len(files) // 10)
        clips, names = _silence_from_noise(root, split, count, rate, n, seed)
        waves += clips
        files += names
        y += [labels.index(SILENCE)] * len(clips)
    if not files:
        raise ValueError(f"split '{split}' of {root} has no clips for labels {labels}")
    W = np.stack(waves).astype(np.float32)
    X = W if cfg is None else cfg.extract(W)
    return X, np.asarray(y, np.int64), files
