"""Train/validation/test splits in the Speech Commands convention.

Speech Commands lists its validation and test clips in ``validation_list.txt`` and
``testing_list.txt`` (paths relative to the dataset root, one per line); every other clip is
training data. Those lists came from a hash of the speaker id (the file name before
``_nohash_``), so a speaker never crosses splits; ``which_set`` reproduces that rule for folders
that ship without lists. Background noise files are split by time instead (``noise_region``).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

SPLITS = ("train", "validation", "test")
LIST_FILES = {"validation": "validation_list.txt", "test": "testing_list.txt"}

# Fractions of every background-noise file reserved per split (by time, so none overlap).
NOISE_REGIONS = {"train": (0.0, 0.8), "validation": (0.8, 0.9), "test": (0.9, 1.0)}

_MAX_PER_CLASS = 2 ** 27 - 1  # the constant of Speech Commands' which_set


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def speaker_of(path: str) -> str:
    """Speaker id of a Speech Commands file name: the part before ``_nohash_`` (else the stem)."""
    name = Path(path).name
    return re.sub(r"_nohash_.*$", "", name) if "_nohash_" in name else Path(name).stem


def which_set(path: str, validation_pct: float = 10.0, testing_pct: float = 10.0) -> str:
    """Speech Commands' hash rule: a stable split for a file from its speaker id alone."""
    digest = int(hashlib.sha1(speaker_of(path).encode()).hexdigest(), 16)
    pct = (digest % (_MAX_PER_CLASS + 1)) * (100.0 / _MAX_PER_CLASS)
    if pct < validation_pct:
        return "validation"
    if pct < validation_pct + testing_pct:
        return "test"
    return "train"


def assign_voices(voices: list[str], seed: int, validation_fraction: float = 0.1,
                  test_fraction: float = 0.1) -> dict[str, str]:
    """Seeded voice -> split map with at least one voice in each of validation and test."""
    voices = sorted(set(voices))
    if len(voices) < 3:
        raise ValueError(f"need at least 3 voices for voice-disjoint train/validation/test splits, got {len(voices)}")
    order = np.random.default_rng([seed, 0x5B17]).permutation(len(voices))
    n_test = max(1, round(len(voices) * test_fraction))
    n_val = max(1, round(len(voices) * validation_fraction))
    if n_test + n_val >= len(voices):
        n_test = n_val = 1
    out = {}
    for rank, i in enumerate(order):
        out[voices[i]] = "test" if rank < n_test else "validation" if rank < n_test + n_val else "train"
    return out


def noise_region(n_samples: int, split: str) -> tuple[int, int]:
    """[start, stop) sample range of a background-noise file that belongs to ``split``."""
    lo, hi = NOISE_REGIONS[check_split(split)]
    return int(n_samples * lo), int(n_samples * hi)


def write_split_lists(root: str | Path, split_of: dict[str, str]) -> None:
    """Write validation_list.txt and testing_list.txt for {relative path: split}."""
    root = Path(root)
    for split, name in LIST_FILES.items():
        paths = sorted(p for p, s in split_of.items() if s == split)
        (root / name).write_text("".join(p + "\n" for p in paths))


def read_split_lists(root: str | Path) -> dict[str, str] | None:
    """{relative path: split} from the list files, or None when the folder has neither list."""
    root = Path(root)
    present = {s: root / n for s, n in LIST_FILES.items() if (root / n).is_file()}
    if not present:
        return None
    out: dict[str, str] = {}
    for split, path in present.items():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            rel = line.strip().replace("\\", "/")
            if not rel:
                continue
            if rel.startswith("/") or ".." in rel.split("/"):
                raise ValueError(f"{path}:{lineno}: {rel!r} is not a path relative to the dataset root")
            if not (root / rel).is_file():
                raise ValueError(f"{path}:{lineno}: listed clip {rel!r} does not exist under {root}")
            if out.get(rel, split) != split:
                raise ValueError(f"{rel!r} is listed in both validation and testing lists")
            out[rel] = split
    return out
