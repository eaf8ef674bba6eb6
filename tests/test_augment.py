"""Augmented views (mcuforge.data.augment): of int8 model inputs as adapt trains on them, and the
training steps adapt takes with them (train.adapt.training_samples)."""
from __future__ import annotations

import numpy as np
import pytest

from mcuforge.data.augment import int8_views
from mcuforge.train.adapt import AUGMENTATION, Task, training_samples


def test_int8_views_shift_and_mask_the_input_in_its_quantization():
    rng = np.random.default_rng(0)
    scale, zp = 0.05, -3
    x = rng.integers(-100, 100, (1, 20, 8, 1)).astype(np.int8)
    # nothing asked: every view is the input again (dequantize -> quantize is exact)
    for v in int8_views(x, scale, zp, 3, rng, max_shift=0):
        assert v.dtype == np.int8 and v.shape == x.shape and np.array_equal(v, x)
    # a shift: each view is the input moved in time by at most 2 frames, its edge frames held
    frames = x.reshape(20, 8)
    for v in int8_views(x, scale, zp, 20, np.random.default_rng(1), max_shift=2):
        v = v.reshape(20, 8)
        assert any(np.array_equal(v, frames[np.clip(np.arange(20) - s, 0, 19)]) for s in range(-2, 3))
    # masks write the zero point (the normalized features' mean), one band and one span at most
    views = int8_views(x, scale, zp, 50, np.random.default_rng(2), max_shift=0, freq_mask=3, time_mask=4)
    masked = [v.reshape(20, 8) != frames for v in views]
    assert any(m.any() for m in masked)
    for v, m in zip(views, masked):
        assert (v.reshape(20, 8)[m] == zp).all()
    with pytest.raises(ValueError, match=r"\(frames, mels\) input; this model's is \(1, 9, 9, 3\)"):
        int8_views(np.zeros((1, 9, 9, 3), np.int8), scale, zp, 1, rng, max_shift=1)


class _Graph:  # what training_samples reads of a graph: its input's quantization
    def __init__(self, s=0.05, zp=-3):
        from types import SimpleNamespace

        self.inputs = ["x"]
        self._t = SimpleNamespace(quant=SimpleNamespace(s=s, zp=zp))

    def tensor(self, name):
        return self._t


def test_training_samples_take_every_clip_and_its_views_each_epoch():
    rng = np.random.default_rng(3)
    task = Task([(rng.integers(-100, 100, (1, 20, 8, 1)).astype(np.int8), k % 2) for k in range(4)], [])
    # without views: the support set, one random pass per epoch (the draws adapt always made)
    samples, order = training_samples(_Graph(), task, 3, np.random.default_rng(5))
    draws = np.random.default_rng(5)
    want = [int(i) for _ in range(3) for i in draws.permutation(4)]
    assert samples is task.support and order == want
    # with 2 views: per epoch the 4 clips and 8 fresh views, each once, the views labelled as their clip
    samples, order = training_samples(_Graph(), task, 3, np.random.default_rng(5), augment=2)
    assert len(samples) == 4 + 3 * 8 and len(order) == 3 * 12
    for e in range(3):
        epoch = order[12 * e:12 * (e + 1)]
        assert sorted(epoch) == list(range(4)) + list(range(4 + 8 * e, 4 + 8 * (e + 1)))
        assert epoch != sorted(epoch)  # shuffled
    for k, (x, y) in enumerate(task.support):
        for e in range(3):
            for j in range(2):
                v, label = samples[4 + 8 * e + 2 * k + j]
                assert label == y and v.shape == x.shape and v.dtype == np.int8
    assert sum(not np.array_equal(samples[4 + i][0], task.support[i // 2][0]) for i in range(8)) >= 6
    assert AUGMENTATION["max_shift"] > 0
