"""Train the DS-CNN keyword spotter on a Speech Commands-layout folder.

Features are log-mel (mcuforge.data.features) normalized by the training set's mean and std;
those two numbers travel in the returned FeatureConfig, which must be stored with the model so
that the board computes and quantizes exactly the same input.
"""
from __future__ import annotations

from contextlib import contextmanager

import keras
import numpy as np

from ..data.features import FeatureConfig
from ..data.speech_commands import DEFAULT_LABELS, load_split
from .dscnn import build_dscnn


def seed_everything(seed: int) -> None:
    """Python, numpy and TF (hence Keras) seeds."""
    keras.utils.set_random_seed(int(seed))


@contextmanager
def deterministic_ops():
    """Deterministic TF kernels while training, then the caller's setting again: the switch is
    process-global and other code in the process (tests, a notebook) did not ask for it."""
    from tensorflow.python.framework import config as tf_config  # the only home of is/disable

    was = tf_config.is_op_determinism_enabled()
    tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if not was:
            tf_config.disable_op_determinism()


def feature_stats(X: np.ndarray) -> tuple[float, float]:
    """Scalar mean and std of training features (float64 accumulation for a stable result)."""
    X = np.asarray(X, np.float64)
    if X.size == 0:
        raise ValueError("no training features to compute normalization statistics from")
    std = float(X.std())
    return float(X.mean()), std if std > 0 else 1.0


def class_weights(y: np.ndarray, n_classes: int) -> dict[int, float]:
    """Weights n / (classes * count) so that the large "unknown" class does not dominate."""
    counts = np.bincount(np.asarray(y), minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return {i: float(w[i]) for i in range(n_classes)}


class KeepBest(keras.callbacks.Callback):
    """Restore the weights of the epoch with the best validation accuracy when training ends."""

    def __init__(self):
        super().__init__()
        self.best, self.best_epoch, self.weights = -1.0, -1, None

    def on_epoch_end(self, epoch, logs=None):
        acc = (logs or {}).get("val_accuracy")
        if acc is not None and acc > self.best:
            self.best, self.best_epoch, self.weights = acc, epoch, self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.weights is not None:
            self.model.set_weights(self.weights)


def fit_dscnn(X_train, y_train, X_val, y_val, n_classes: int, epochs: int = 12, batch_size: int = 64,
              seed: int = 0, progress: bool = True, learning_rate: float = 3e-3, **model_kwargs):
    """Build and fit a DS-CNN on normalized features (clips, frames, mels); returns (model, history).

    Adam with cosine learning-rate decay and class weights; the weights of the epoch with the best
    validation accuracy are kept (validation voices are disjoint from test voices).
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    seed_everything(seed)
    X_train = np.asarray(X_train, np.float32)[..., None]
    X_val = np.asarray(X_val, np.float32)[..., None]
    model = build_dscnn(X_train.shape[1:], n_classes, **model_kwargs)
    steps = epochs * int(np.ceil(len(X_train) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    keep = KeepBest()
    with deterministic_ops():
        history = model.fit(X_train, np.asarray(y_train), validation_data=(X_val, np.asarray(y_val)),
                            epochs=epochs, batch_size=batch_size, shuffle=True,
                            class_weight=class_weights(y_train, n_classes), callbacks=[keep],
                            verbose=1 if progress else 0)
    history.history["best_epoch"] = keep.best_epoch
    return model, history


def load_normalized(data_dir, labels, features: FeatureConfig):
    """(train, validation, test) as (X, y, files) with the training set's statistics applied.

    Returns (splits dict, normalized FeatureConfig). The test split is optional: None when the
    folder has no test clips.
    """
    raw = features if not features.normalized else FeatureConfig(**{**features.to_dict(), "mean": None, "std": None})
    X_tr, y_tr, f_tr = load_split(data_dir, labels, "train", features=raw)
    cfg = raw.with_stats(*feature_stats(X_tr))
    data = {"train": (cfg.normalize(X_tr), y_tr, f_tr)}
    X_va, y_va, f_va = load_split(data_dir, labels, "validation", features=raw)
    data["validation"] = (cfg.normalize(X_va), y_va, f_va)
    try:
        X_te, y_te, f_te = load_split(data_dir, labels, "test", features=raw)
        data["test"] = (cfg.normalize(X_te), y_te, f_te)
    except ValueError as e:
        if "has no clips" not in str(e):
            raise
        data["test"] = None
    return data, cfg


def train_kws(data_dir, labels=DEFAULT_LABELS, epochs: int = 12, batch_size: int = 64, seed: int = 0,
              progress: bool = True, features: FeatureConfig | None = None, **fit_kwargs):
    """Train a DS-CNN on data_dir's train split (validation split for model selection).

    Returns (model, history, feature_config): the Keras model (input (frames, mels, 1), softmax
    over ``labels``), its Keras History, and the FeatureConfig with the normalization statistics.
    """
    data, cfg = load_normalized(data_dir, list(labels), features or FeatureConfig())
    (X_tr, y_tr, _), (X_va, y_va, _) = data["train"], data["validation"]
    model, history = fit_dscnn(X_tr, y_tr, X_va, y_va, len(labels), epochs, batch_size, seed, progress,
                               **fit_kwargs)
    return model, history, cfg
