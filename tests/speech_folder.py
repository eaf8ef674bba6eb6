"""Synthetic Speech Commands-layout folders for tests: a folder per word, one clip per speaker
(``s{i}_nohash_0.wav``, 1 s at 16 kHz), the held-out clips named in testing_list.txt and
validation_list.txt, as ``mcuforge data kws`` lays them out."""
from __future__ import annotations

import numpy as np

RATE = 16000


def speech_folder(root, words: dict, per_split=(1, 1, 0), seed: int = 0) -> None:
    """``words``: name -> ``make(rng, t)`` returning one clip's samples (``t``: the clip's times in
    seconds); per word ``per_split`` (train, test, validation) clips, in that order."""
    from mcuforge.data.wav import write_wav

    rng = np.random.default_rng(seed)
    t = np.arange(RATE) / RATE
    n_train, n_test, _ = per_split
    held = {"testing": [], "validation": []}
    for word, make in words.items():
        (root / word).mkdir(parents=True)
        for i in range(sum(per_split)):
            write_wav(root / word / f"s{i}_nohash_0.wav", make(rng, t), RATE)
            if i >= n_train:
                held["testing" if i < n_train + n_test else "validation"].append(f"{word}/s{i}_nohash_0.wav")
    for name, files in held.items():
        if files:
            (root / f"{name}_list.txt").write_text("\n".join(files) + "\n")
