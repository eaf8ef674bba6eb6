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

/* The *_dsp kernels' form: the output offset folded into q_hi, before and after int8 saturation. */
void folded(const int32_t *acc, const int32_t *mult, const int32_t *q_hi, int32_t n, int32_t *value, int32_t *full)
{
    for (int32_t i = 0; i < n; ++i) {
        value[i] = mf_requant_folded(acc[i], mult[i], q_hi[i], mf_requant_folded_shift(q_hi[i]));
        full[i] = mf_requant_folded_full(acc[i], mult[i], q_hi[i], mf_requant_folded_shift(q_hi[i]));
    }
}
"""


def _lib():
    src = build_dir() / "requant_shim.c"
    src.write_text(SHIM)
    return ctypes.CDLL(str(compile_sources([src], "requant_shim")))


def _edge_and_random(rng, shifts):
    accs = [-2**31, -2**31 + 1, -2**30 - 1, -2**30, -2**30 + 1, -3, -2, -1, 0, 1, 2, 3,
            2**30 - 1, 2**30, 2**31 - 2, 2**31 - 1]
    mults = [0, 1, 2**30 - 1, 2**30, 2**30 + 1, 1518500250, 2**31 - 2, 2**31 - 1]
    a, m, s = (np.array(v, np.int64).reshape(-1) for v in np.meshgrid(accs, mults, shifts, indexing="ij"))
    n = 20000
    sr = rng.integers(min(shifts), min(max(shifts), 1) + 1, n)  # random draws: right shifts, and left by 1
    mr = rng.integers(2**30, 2**31, n)
    ar = rng.integers(-2**31, 2**31, n)
    tie = rng.integers(-2**20, 2**20, n) << rng.integers(0, 11, n)  # on a rounding boundary of either step
    ar[: n // 2] = np.clip(tie[: n // 2], -2**31, 2**31 - 1)
    return (np.concatenate([a, ar]).astype(np.int32), np.concatenate([m, mr]).astype(np.int32),
            np.concatenate([s, sr]).astype(np.int32))


def test_folded_requant_is_tflite_plus_the_output_offset():
    """q_hi = (2 * off + 1) * 2^(e-2) for every shift the DSP kernels take (right by 2..22) and
    output offsets at both ends."""
    from mcuforge.ops._conv_dsp import MAX_SHIFT

    rng = np.random.default_rng(11)
    acc, mult, shift = _edge_and_random(rng, list(range(-MAX_SHIFT, -1)))
    off = rng.integers(-128, 128, acc.size)
    off[:3] = [-128, 127, 0]
    q_hi = ((2 * off + 1) << (-shift.astype(np.int64) - 2)).astype(np.int32)
    value, full = np.zeros_like(acc), np.zeros_like(acc)
    _lib().folded(ptr(acc), ptr(mult), ptr(q_hi), ctypes.c_int32(acc.size), ptr(value), ptr(full))
    want = multiply_by_quantized_multiplier(acc.astype(np.int64), mult.astype(np.int64),
                                            shift.astype(np.int64)) + off
    np.testing.assert_array_equal(value, want)
    np.testing.assert_array_equal(full, np.clip(want, -128, 127))


def test_one_smlal_requant_equals_tflite_two_roundings():
    acc, mult, shift = _edge_and_random(np.random.default_rng(9), list(range(-31, 9)))
    fast, slow = np.zeros_like(acc), np.zeros_like(acc)
    _lib().both(ptr(acc), ptr(mult), ptr(shift), ctypes.c_int32(acc.size), ptr(fast), ptr(slow))
    np.testing.assert_array_equal(fast, slow)
    right = shift <= 0  # numpy's TFLite maths (no left shift overflow there): the same values
    want = multiply_by_quantized_multiplier(acc[right].astype(np.int64), mult[right].astype(np.int64),
                                            shift[right].astype(np.int64))
    np.testing.assert_array_equal(fast[right], want)
