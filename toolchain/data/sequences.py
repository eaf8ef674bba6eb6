"""Labelled sequences for the RNN models: ``load_sequences(spec) -> SequenceData``.

``spec`` is one of
- ``aeon:NAME``: a time-series classification set that ships inside the ``aeon`` package
  (BasicMotions, JapaneseVowels, ...), read offline; its train split is divided into train and
  validation (stratified, seeded), its test split is the test set;
- ``FILE.npz``: ``X`` [N, T, d] float32, ``y`` [N] int, optional ``split`` [N] of "train" /
  "validation" / "test", ``labels`` (names) and ``negative`` (the negative class index);
- a keyword dataset folder (Speech Commands layout, ``mcuforge data kws``): the Google-13
  protocol of the EMI-RNN paper — 32 log-mel bands, 25 ms windows every 10 ms (~99 steps),
  the 12 keywords ``KWS_POSITIVES`` as classes 1..12 and everything else (unknown words,
  silence) as the negative class 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .kws import BASE_KEYWORDS, NUMBER_KEYWORDS, SILENCE, UNKNOWN

SPLITS = ("train", "validation", "test")
KWS_NEGATIVE = "negative"
KWS_POSITIVES = BASE_KEYWORDS + NUMBER_KEYWORDS[:2]  # 12 keywords, as Google-13's
KWS_FEATURES = dict(n_mels=32, win=400, hop=160)  # 25 ms / 10 ms


@dataclass
class SequenceData:
    name: str
    labels: list[str]
    negative: int | None  # index of the negative class (what EMI relabels to), None if none
    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    feature_config: dict | None = None  # keyword data: the front end that makes the frames
    notes: list[str] = field(default_factory=list)

    def has(self, split: str) -> bool:
        return split in self.splits and len(self.splits[split][1]) > 0

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        if not self.has(split):
            raise ValueError(f"{self.name} has no {split} split")
        return self.splits[split]

    @property
    def steps(self) -> int:
        return int(self.splits["train"][0].shape[1])

    @property
    def input_dim(self) -> int:
        return int(self.splits["train"][0].shape[2])


def load_sequences(spec: str | Path, seed: int = 0, validation_fraction: float = 0.2) -> SequenceData:
    spec = str(spec)
    if spec.startswith("aeon:"):
        return _aeon(spec[5:], seed, validation_fraction)
    path = Path(spec)
    if path.suffix == ".npz":
        return _npz(path, seed, validation_fraction)
    if path.is_dir():
        return _kws(path)
    if not path.exists():
        raise FileNotFoundError(f"data not found: {spec} (give aeon:NAME, a .npz file or a keyword dataset folder)")
    raise ValueError(f"{spec}: unknown data (give aeon:NAME, a .npz file or a keyword dataset folder)")


def save_sequences(data: SequenceData, path) -> Path:
    """``data`` as the .npz ``load_sequences`` reads (X, y, split, labels, negative): a keyword
    folder's frames computed once. (Loading it standardizes each channel again: train and
    validate from the same file.)"""
    path = Path(path)
    names = [s for s in SPLITS if data.has(s)]
    X = np.concatenate([data.splits[s][0] for s in names])
    y = np.concatenate([data.splits[s][1] for s in names])
    split = np.concatenate([np.full(len(data.splits[s][1]), s) for s in names])
    extra = {} if data.negative is None else dict(negative=data.negative)
    np.savez(path, X=X, y=y, split=split, labels=np.array(data.labels), **extra)
    return path


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a seeded, per-class ``fraction`` of the samples (at least one of a
    class that has two or more)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n = int(round(fraction * len(idx)))
        n = min(max(n, 1 if len(idx) > 1 else 0), len(idx) - 1) if len(idx) > 1 else 0
        mask[rng.permutation(idx)[:n]] = True
    return mask


def pad_to(sequences: list[np.ndarray], steps: int | None = None) -> np.ndarray:
    """Variable-length [T_i, d] sequences -> [N, T, d], zero-padded at the end."""
    steps = steps or max(s.shape[0] for s in sequences)
    out = np.zeros((len(sequences), steps, sequences[0].shape[1]), np.float32)
    for i, s in enumerate(sequences):
        out[i, :min(steps, len(s))] = s[:steps]
    return out


def _standardize(splits: dict) -> dict:
    """Per-channel mean/std of the training split applied to every split."""
    X = splits["train"][0]
    mean = X.mean((0, 1), keepdims=True)
    std = X.std((0, 1), keepdims=True)
    std[std == 0] = 1
    return {k: (((x - mean) / std).astype(np.float32), y) for k, (x, y) in splits.items()}


def _aeon(name: str, seed: int, validation_fraction: float) -> SequenceData:
    try:
        from aeon.datasets import load_classification
    except ImportError:  # pragma: no cover - aeon is a dependency
        raise ValueError("aeon:NAME needs the 'aeon' package (pip install aeon)") from None
    try:
        X_tr, y_tr = load_classification(name, split="train")
        X_te, y_te = load_classification(name, split="test")
    except Exception as e:  # aeon raises several kinds for an unknown or not-shipped set
        raise ValueError(f"aeon:{name}: cannot be read offline ({type(e).__name__}: {e}); the sets that "
                         "ship inside aeon include BasicMotions and JapaneseVowels") from None

    def frames(X):  # aeon: [N, channels, T] (array) or a list of [channels, T_i]
        return [np.asarray(x, np.float32).T for x in X]

    tr, te = frames(X_tr), frames(X_te)
    steps = max(max(s.shape[0] for s in tr), max(s.shape[0] for s in te))
    labels = sorted(set(map(str, y_tr)) | set(map(str, y_te)))
    index = {lab: i for i, lab in enumerate(labels)}
    y_tr = np.array([index[str(v)] for v in y_tr], np.int64)
    y_te = np.array([index[str(v)] for v in y_te], np.int64)
    X_tr, X_te = pad_to(tr, steps), pad_to(te, steps)
    va = stratified_split(y_tr, validation_fraction, seed)
    splits = {"train": (X_tr[~va], y_tr[~va]), "validation": (X_tr[va], y_tr[va]), "test": (X_te, y_te)}
    return SequenceData(f"aeon:{name}", labels, None, _standardize(splits),
                        notes=[f"{len(y_tr)} + {len(y_te)} series, {steps} steps, {X_tr.shape[2]} channels"])


NPZ_MAGIC = b"PK\x03\x04"  # a .npz is a zip archive


def _npz(path: Path, seed: int, validation_fraction: float) -> SequenceData:
    with open(path, "rb") as raw:
        if raw.read(len(NPZ_MAGIC)) != NPZ_MAGIC:  # else numpy.load calls it "pickled data"
            raise ValueError(f"{path}: not a .npz archive (write it with numpy.savez: X [N, T, d], y [N], ...)")
    with np.load(path, allow_pickle=False) as f:
        if "X" not in f or "y" not in f:
            raise ValueError(f"{path}: needs arrays X [N, T, d] and y [N] (has {', '.join(f.files)})")
        try:
            X, y = np.asarray(f["X"], np.float32), np.asarray(f["y"])
            split = np.asarray(f["split"]).astype(str) if "split" in f else None
            labels = [str(v) for v in f["labels"]] if "labels" in f else None
            negative = int(f["negative"]) if "negative" in f else None
        except ValueError as exc:  # object arrays, text where numbers belong
            raise ValueError(f"{path}: X and y must be plain numeric arrays, negative a class index ({exc})") from None
    if X.ndim != 3 or y.ndim != 1 or len(X) != len(y) or len(y) == 0:
        raise ValueError(f"{path}: X must be [N, T, d] and y [N] with N >= 1, got X {X.shape}, y {y.shape}")
    if y.dtype.kind not in "iu" or y.min() < 0:
        raise ValueError(f"{path}: y must hold class indices 0..C-1")
    if not np.isfinite(X).all():
        raise ValueError(f"{path}: X has non-finite values")
    n_classes = int(y.max()) + 1
    labels = labels or [str(i) for i in range(n_classes)]
    if len(labels) < n_classes:
        raise ValueError(f"{path}: {len(labels)} labels for {n_classes} classes")
    if negative is not None and not 0 <= negative < len(labels):
        raise ValueError(f"{path}: negative class {negative} is not one of the {len(labels)} classes")
    y = y.astype(np.int64)
    if split is None:
        test = stratified_split(y, 0.2, seed + 1)
        va = stratified_split(y, validation_fraction, seed) & ~test
        split = np.where(test, "test", np.where(va, "validation", "train"))
    bad = sorted(set(split) - set(SPLITS))
    if bad:
        raise ValueError(f"{path}: split values must be {', '.join(SPLITS)}, got {bad}")
    splits = {s: (X[split == s], y[split == s]) for s in SPLITS if (split == s).any()}
    if "train" not in splits or "validation" not in splits:
        raise ValueError(f"{path}: needs train and validation samples")
    return SequenceData(path.stem, labels, negative, _standardize(splits))


def _kws(root: Path) -> SequenceData:
    from .features import FeatureConfig
    from .speech_commands import load_split

    labels = [KWS_NEGATIVE, *KWS_POSITIVES]
    # silence and unknown words both map to the negative class
    folder_labels = [SILENCE, UNKNOWN, *KWS_POSITIVES]
    raw = FeatureConfig(**KWS_FEATURES)
    splits = {}
    for s in SPLITS:
        try:
            X, y, _ = load_split(root, folder_labels, s, features=raw)
        except ValueError as e:
            if "has no clips" in str(e) and s == "test":
                continue
            raise
        splits[s] = (X.astype(np.float32), np.maximum(y - 1, 0))  # silence 0, unknown 1 -> negative 0
    from ..train.train import feature_stats

    cfg = raw.with_stats(*feature_stats(splits["train"][0]))
    splits = {k: (cfg.normalize(x).astype(np.float32), y) for k, (x, y) in splits.items()}
    return SequenceData(f"kws:{root.name}", labels, 0, splits, feature_config=cfg.to_dict(),
                        notes=["Google-13 protocol: 32 log-mel x 25 ms / 10 ms"])
