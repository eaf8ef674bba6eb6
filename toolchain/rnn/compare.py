"""The EMI-RNN comparison that ``bench/rnn.py`` and the demo's EMI part both run: the models
(an LSTM over the whole bag against windowed, early-exiting ones), a test split in a seeded
order saved once as .npz, and the costs per bag and per prediction measured on a board."""
from __future__ import annotations

from pathlib import Path

import numpy as np

BASELINE = "LSTM (whole bag)"
SWEPT = "EMI-FastGRNN"
PAPER = ("paper (Dennis et al. 2018, Table 3): Google-13 LSTM-64 91.13% vs EMI-LSTM-32 92.61% at 8x less "
         "compute; HAR-6 10.5x; GesturePod-6 72x")


def configs(hidden: int, window: int, stride: int, epochs: int = 8, rounds: int = 3, p_hat: float = 0.9,
            kappa: int = 2, k: int = 1, seed: int = 0) -> dict:
    """Row name -> RnnConfig: the LSTM baseline, MI-RNN (LSTM windows and the bag rule, no
    exit), EMI-LSTM and EMI-FastGRNN (low rank hidden / 4), trained alike."""
    from ..train.rnn import RnnConfig

    common = dict(hidden=hidden, epochs=epochs, batch_size=32, learning_rate=0.02, k=k, p_hat=p_hat, kappa=kappa,
                  window=window, stride=stride, seed=seed)
    return {BASELINE: RnnConfig(cell="lstm", emi=False, **common),
            "MI-RNN (LSTM)": RnnConfig(cell="lstm", emi=True, early_exit=False, rounds=rounds, **common),
            "EMI-LSTM": RnnConfig(cell="lstm", emi=True, rounds=rounds, **common),
            SWEPT: RnnConfig(cell="fastgrnn", emi=True, rounds=rounds, rank=max(2, hidden // 4), **common)}


def keyword_windows(data) -> tuple[int, int]:
    """Window and stride: 48 steps every 16 on a keyword folder (~98 steps), else 12 every 4."""
    return (48, 16) if Path(str(data)).is_dir() else (12, 4)


def prepare(data, work: Path, seed: int = 0):
    """The data set loaded once; a keyword folder's log-mel frames saved as .npz (so each board's
    validation does not compute them again) with the test split in a seeded random order (the
    first N test bags are a sample of every class). Returns (SequenceData, what to validate on)."""
    from ..data.sequences import load_sequences, save_sequences

    ds = load_sequences(data)
    if not Path(str(data)).is_dir():
        return ds, str(data)
    X, y = ds.split("test")
    order = np.random.default_rng(seed).permutation(len(y))
    ds.splits["test"] = (X[order], y[order])
    path = str(save_sequences(ds, Path(work) / "keywords.npz"))
    return load_sequences(path), path


def costs(v) -> dict:
    """Board counts per bag (median) and per prediction (mean counts per bag over mean instances
    per bag: a streaming device decides once per instance) and per cell step."""
    instances = np.mean([b.instances for b in v.board_results])
    return dict(bag=float(np.median(v.cycles)), prediction=float(np.mean(v.cycles) / instances),
                per_step=float(np.mean(v.cycles) / v.mean_steps))
