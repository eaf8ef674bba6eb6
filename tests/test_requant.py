"""mf_requant.h (one SMLAL + one shift) equals TFLite's two-step MultiplyByQuantizedMultiplier
(mf_quant.h, itself held to the numpy/TFLM maths elsewhere) on edge cases and at random: extreme
accumulators, multipliers at both ends of Q31, every shift from left 8 to right 31."""
from __future__ import annotations

import ctypes

import numpy as np

from kernel_harness import build_dir, compile_sources, ptr
from mcuforge.graph.quant import multiply_by_quantized_multiplier

SHIM = r"""
#include "mf_requant.h"
void both(const int32_t *acc, const int32_t *mult, const int32_t *shift, int32_t n, int32_t *fast, int32_t *slow)
{
    for (int32_t i = 0; i < n; ++i) {
        fast[i] = mf_requant(acc[i], mult[i], shift[i]);
        slow[i] = mf_multiply_by_quantized_multiplier(acc[i], mult[i], (int)shift[i]);
    }
}
"""


def _lib():
    src = build_dir() / "requant_shim.c"
    src.write_text(SHIM)
    return ctypes.CDLL(str(compile_sources([src], "requant_shim")))


def test_one_smlal_requant_equals_tflite_two_roundings():
    rng = np.random.default_rng(9)
    accs = [-2**31, -2**31 + 1, -2**30 - 1, -2**30, -2**30 + 1, -3, -2, -1, 0, 1, 2, 3,
            2**30 - 1, 2**30, 2**31 - 2, 2**31 - 1]
    mults = [0, 1, 2**30 - 1, 2**30, 2**30 + 1, 1518500250, 2**31 - 2, 2**31 - 1]
    shifts = list(range(-31, 9))
    a, m, s = (np.array(v, np.int64).reshape(-1) for v in np.meshgrid(accs, mults, shifts, indexing="ij"))
    # ties: accumulators that land exactly on a rounding boundary of either step
    n = 20000
    sr = rng.integers(-31, 2, n)
    mr = rng.integers(2**30, 2**31, n)
    ar = rng.integers(-2**31, 2**31, n)
    tie = rng.integers(-2**20, 2**20, n) << rng.integers(0, 11, n)
    ar[: n // 2] = np.clip(tie[: n // 2], -2**31, 2**31 - 1)
    acc = np.concatenate([a, ar]).astype(np.int32)
    mult = np.concatenate([m, mr]).astype(np.int32)
    shift = np.concatenate([s, sr]).astype(np.int32)
    fast, slow = np.zeros_like(acc), np.zeros_like(acc)
    _lib().both(ptr(acc), ptr(mult), ptr(shift), ctypes.c_int32(acc.size), ptr(fast), ptr(slow))
    np.testing.assert_array_equal(fast, slow)
    right = shift <= 0  # numpy's TFLite maths (no left shift overflow there): the same values
    want = multiply_by_quantized_multiplier(acc[right].astype(np.int64), mult[right].astype(np.int64),
                                            shift[right].astype(np.int64))
    np.testing.assert_array_equal(fast[right], want)
