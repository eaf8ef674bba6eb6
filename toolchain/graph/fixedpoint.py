"""gemmlowp fixed-point helpers in numpy (mirrors firmware/kernels/mf_fixedpoint.h).

TFLM's int8 softmax computes exp() and 1/x on Q-format int32 values with gemmlowp's
fixed-point routines; to be bit-exact we repeat each integer step. A value with
``integer_bits`` m is a raw int32 meaning raw / 2**(31 - m). Arrays are int64 holding
int32 values; sums that C does in int32 are wrapped back with :func:`wrap32`.
"""
from __future__ import annotations

import numpy as np

from .quant import INT32_MAX, INT32_MIN, rounding_divide_by_pot, saturating_rounding_doubling_high_mul

# exp(-2**e) in Q0.31 for the barrel shifter of exp_on_negative_values, e = -2 .. 4 (gemmlowp constants).
EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401), (4, 242))
EXP_MINUS_ONE_EIGHTH_Q31 = 1895147668  # exp(-1/8)
ONE_THIRD_Q31 = 715827883
FORTY_EIGHT_OVER_SEVENTEEN_Q2 = 1515870810
MINUS_THIRTY_TWO_OVER_SEVENTEEN_Q2 = -1010580540


def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def wrap32(x) -> np.ndarray:
    """Two's-complement wrap to int32, as C's int32 arithmetic on the targets."""
    return ((_i64(x) + 2**31) % 2**32) - 2**31


def srdhm(a, b) -> np.ndarray:
    return saturating_rounding_doubling_high_mul(a, b)


def rdbpot(x, exponent) -> np.ndarray:
    return rounding_divide_by_pot(x, exponent)


def saturating_rounding_multiply_by_pot(x, exponent: int) -> np.ndarray:
    """x * 2**exponent: saturating for exponent > 0, rounding to nearest for exponent < 0."""
    x = _i64(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rdbpot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    out = wrap32(x * (1 << exponent))
    out = np.where(x > threshold, INT32_MAX, out)
    return np.where(x < -threshold, INT32_MIN, out).astype(np.int64)


def rounding_half_sum(a, b) -> np.ndarray:
    """(a + b) / 2 rounded half away from zero (C division truncates toward zero)."""
    s = _i64(a) + _i64(b)
    num = s + np.where(s >= 0, 1, -1)
    return np.where(num >= 0, num // 2, -((-num) // 2)).astype(np.int64)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor expansion around -1/8."""
    x = wrap32(_i64(a) + (1 << 28))  # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rdbpot(x4, 2)
    poly = rdbpot(wrap32(srdhm(wrap32(x4_over_4 + x3), ONE_THIRD_Q31) + x2), 1)
    return wrap32(EXP_MINUS_ONE_EIGHTH_Q31 + srdhm(EXP_MINUS_ONE_EIGHTH_Q31, wrap32(x + poly)))


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """exp(a) for a <= 0 given with ``integer_bits`` integer bits; result in Q0.31."""
    a = _i64(a)
    frac_bits = 31 - integer_bits
    one_quarter = 1 << (frac_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = wrap32((a & mask) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in EXP_BARREL:
        if integer_bits > exponent:
            bit = 1 << (frac_bits + exponent)
            result = np.where((remainder & bit) != 0, srdhm(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))  # -32.0: exp() below it is zero in Q0.31
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, INT32_MAX, result).astype(np.int64)


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out: three Newton-Raphson steps in Q2.29."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = wrap32(FORTY_EIGHT_OVER_SEVENTEEN_Q2 + srdhm(half_denominator, MINUS_THIRTY_TWO_OVER_SEVENTEEN_Q2))
    one_q2 = 1 << 29
    for _ in range(3):
        one_minus_half_denominator_times_x = wrap32(one_q2 - srdhm(half_denominator, x))
        x = wrap32(x + saturating_rounding_multiply_by_pot(srdhm(x, one_minus_half_denominator_times_x), 2))
    # x / 2 (exact, as Q1.30), then Q1.30 -> Q0.31.
    return saturating_rounding_multiply_by_pot(x, 1)


def count_leading_zeros(x) -> np.ndarray:
    """Leading zero bits of x as uint32 (32 for 0)."""
    u = _i64(x) & 0xFFFFFFFF
    n = np.zeros(u.shape, dtype=np.int64)
    for bits in (16, 8, 4, 2, 1):
        small = u < (1 << (32 - bits))
        n = np.where(small, n + bits, n)
        u = np.where(small, u << bits, u)
    return np.where((_i64(x) & 0xFFFFFFFF) == 0, 32, n)


def get_reciprocal(x, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite GetReciprocal: 1/x for x > 0 with ``x_integer_digits`` integer bits.

    Returns (Q0.31 raw of x' reciprocal scaled into [0.5, 1], num_bits_over_unit).
    """
    x = _i64(x)
    headroom_plus_one = count_leading_zeros(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted = ((x & 0xFFFFFFFF) << headroom_plus_one) & 0xFFFFFFFF
    shifted_sum_minus_one = wrap32(shifted - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit
