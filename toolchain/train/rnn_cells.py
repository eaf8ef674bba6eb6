"""FastGRNN (Kusupati et al., NeurIPS 2018) as a Keras 3 RNN cell, and the sparsity schedule
that makes it a few KB.

    z  = sigmoid(W x + U h + b_z)
    h~ = tanh(W x + U h + b_h)
    h' = (zeta (1 - z) + nu) * h~ + z * h,    zeta = sigmoid(zeta_raw), nu = sigmoid(nu_raw)

W and U are shared by the gate and the update (that is what makes it small); with ``rank_w`` /
``rank_u`` they are low-rank products W = W1 W2, U = U1 U2. Initial values follow the paper's
code: zeta_raw = 1, nu_raw = -4 (so h' starts close to the gated average), biases 1.

The paper trains in three stages: low-rank (dense factors), iterative hard thresholding to a
target sparsity, then a fixed support. ``HardThreshold`` is that schedule as a callback.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="mcuforge")
class FastGRNNCell(keras.layers.Layer):
    def __init__(self, units: int, rank_w: int | None = None, rank_u: int | None = None,
                 zeta_init: float = 1.0, nu_init: float = -4.0, **kwargs):
        super().__init__(**kwargs)
        if units <= 0:
            raise ValueError(f"FastGRNN needs units > 0, got {units}")
        self.units = int(units)
        self.rank_w = int(rank_w) if rank_w else None
        self.rank_u = int(rank_u) if rank_u else None
        self.zeta_init = float(zeta_init)
        self.nu_init = float(nu_init)
        self.state_size = self.units
        self.output_size = self.units

    def _matrix(self, name: str, rows: int, rank: int | None) -> list:
        init = keras.initializers.GlorotUniform()
        if rank:
            return [self.add_weight(shape=(rows, rank), initializer=init, name=f"{name}1"),
                    self.add_weight(shape=(rank, self.units), initializer=init, name=f"{name}2")]
        return [self.add_weight(shape=(rows, self.units), initializer=init, name=name)]

    def build(self, input_shape):
        d = int(input_shape[-1])
        self.w = self._matrix("W", d, self.rank_w)
        self.u = self._matrix("U", self.units, self.rank_u)
        self.b_z = self.add_weight(shape=(self.units,), initializer="ones", name="b_z")
        self.b_h = self.add_weight(shape=(self.units,), initializer="ones", name="b_h")
        self.zeta = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.zeta_init), name="zeta")
        self.nu = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.nu_init), name="nu")
        super().build(input_shape)

    @staticmethod
    def _apply(x, factors):
        for f in factors:
            x = ops.matmul(x, f)
        return x

    def call(self, inputs, states):
        h = states[0] if isinstance(states, (list, tuple)) else states
        pre = self._apply(inputs, self.w) + self._apply(h, self.u)
        z = ops.sigmoid(pre + self.b_z)
        h_tilde = ops.tanh(pre + self.b_h)
        h_new = (ops.sigmoid(self.zeta) * (1.0 - z) + ops.sigmoid(self.nu)) * h_tilde + z * h
        return h_new, [h_new]

    def matrices(self) -> list:
        """The weight matrices hard thresholding acts on (W, U or their factors)."""
        return self.w + self.u

    def get_config(self):
        return {**super().get_config(), "units": self.units, "rank_w": self.rank_w, "rank_u": self.rank_u,
                "zeta_init": self.zeta_init, "nu_init": self.nu_init}


def keep_top(w: np.ndarray, density: float) -> np.ndarray:
    """Mask of the ``density`` fraction of entries largest in magnitude (at least one)."""
    k = max(1, int(round(density * w.size)))
    if k >= w.size:
        return np.ones(w.shape, bool)
    threshold = np.partition(np.abs(w).reshape(-1), w.size - k)[w.size - k]
    mask = np.abs(w) >= threshold
    if mask.sum() > k:  # ties at the threshold: keep the first ones, so exactly k survive
        idx = np.flatnonzero(mask.reshape(-1))[k:]
        mask.reshape(-1)[idx] = False
    return mask


class HardThreshold(keras.callbacks.Callback):
    """The paper's stages 2 and 3 over ``cells``' matrices: from epoch ``start`` to ``fix`` every
    batch ends with hard thresholding to ``density`` (the support may move); from ``fix`` on the
    support is frozen and every batch re-applies it."""

    def __init__(self, cells, density: float, start: int, fix: int):
        super().__init__()
        if not 0 < density <= 1:
            raise ValueError(f"density must be in (0, 1], got {density}")
        self.variables = [v for c in cells for v in c.matrices()]
        self.density, self.start, self.fix = float(density), int(start), int(fix)
        self.epoch = 0
        self.masks: list[np.ndarray] | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if epoch >= self.fix and self.masks is None:
            self.masks = [keep_top(np.asarray(v.numpy()), self.density) for v in self.variables]

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch < self.start or self.density >= 1:
            return
        for i, v in enumerate(self.variables):
            w = np.asarray(v.numpy())
            mask = self.masks[i] if self.masks is not None else keep_top(w, self.density)
            v.assign(np.where(mask, w, 0).astype(w.dtype))

    def on_train_end(self, logs=None):
        if self.density < 1 and self.epoch >= self.start:
            self.on_train_batch_end(0)
