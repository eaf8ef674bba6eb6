/* gemmlowp-style fixed-point maths used by TFLM's int8 softmax (mirrors toolchain/graph/fixedpoint.py).
 *
 * A value with m integer bits is an int32 raw meaning raw / 2^(31 - m) (Qm.(31-m)). Each step
 * rounds exactly as gemmlowp does, so results are bit-exact with the TFLM interpreter. Sums are
 * done in uint32 and converted back so that wrap-around is defined behaviour in C. */
#ifndef MF_FIXEDPOINT_H
#define MF_FIXEDPOINT_H

#include <stdint.h>

#include "mf_quant.h"

static inline int32_t mf_fp_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t mf_fp_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* x * 2^exponent: saturating for exponent > 0, rounding to nearest for exponent < 0. */
static inline int32_t mf_fp_mul_by_pot(int32_t x, int exponent)
{
    if (exponent < 0) {
        return mf_rounding_divide_by_pot(x, -exponent);
    }
    if (exponent > 0) {
        const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
        if (x > threshold) {
            return INT32_MAX;
        }
        if (x < -threshold) {
            return INT32_MIN;
        }
        return (int32_t)((uint32_t)x << exponent);
    }
    return x;
}

/* (a + b) / 2 rounded half away from zero. */
static inline int32_t mf_fp_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor expansion around -1/8. */
static inline int32_t mf_fp_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668;
    const int32_t one_third = 715827883;
    const int32_t x = mf_fp_add(a, (int32_t)1 << 28); /* a + 1/8 */
    const int32_t x2 = mf_sat_rounding_doubling_high_mul(x, x);
    const int32_t x3 = mf_sat_rounding_doubling_high_mul(x2, x);
    const int32_t x4 = mf_sat_rounding_doubling_high_mul(x2, x2);
    const int32_t x4_over_4 = mf_rounding_divide_by_pot(x4, 2);
    const int32_t poly = mf_rounding_divide_by_pot(
        mf_fp_add(mf_sat_rounding_doubling_high_mul(mf_fp_add(x4_over_4, x3), one_third), x2), 1);
    return mf_fp_add(exp_minus_one_eighth,
                     mf_sat_rounding_doubling_high_mul(exp_minus_one_eighth, mf_fp_add(x, poly)));
}

/* exp(a) for a <= 0 with integer_bits integer bits (0..30); result in Q0.31. */
static inline int32_t mf_fp_exp_on_negative_values(int32_t a, int integer_bits)
{
    /* exp(-2^e) in Q0.31 for e = -2 .. 4: applied for each set bit of the remainder. */
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int frac_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (frac_bits - 2);
    const int32_t a_mod_quarter_minus_one_quarter = mf_fp_sub(a & (one_quarter - 1), one_quarter);
    const int32_t remainder = mf_fp_sub(a_mod_quarter_minus_one_quarter, a);
    int32_t result = mf_fp_exp_on_interval_between_negative_one_quarter_and_0_excl(
        mf_fp_mul_by_pot(a_mod_quarter_minus_one_quarter, integer_bits));
    int e;

    for (e = -2; e <= 4; ++e) {
        if (integer_bits > e && (remainder & ((int32_t)1 << (frac_bits + e))) != 0) {
            result = mf_sat_rounding_doubling_high_mul(result, barrel[e + 2]);
        }
    }
    if (integer_bits > 5 && a < -((int32_t)1 << (36 - integer_bits))) {
        result = 0; /* below -32 exp() is zero in Q0.31 */
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out: three Newton-Raphson steps in Q2.29. */
static inline int32_t mf_fp_one_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    const int32_t half_denominator = mf_fp_rounding_half_sum(a, INT32_MAX);
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t x = mf_fp_add(1515870810 /* 48/17 */, mf_sat_rounding_doubling_high_mul(half_denominator, -1010580540 /* -32/17 */));
    int i;

    for (i = 0; i < 3; ++i) {
        const int32_t one_minus_half_denominator_times_x =
            mf_fp_sub(one_q2, mf_sat_rounding_doubling_high_mul(half_denominator, x));
        x = mf_fp_add(x, mf_fp_mul_by_pot(mf_sat_rounding_doubling_high_mul(x, one_minus_half_denominator_times_x), 2));
    }
    /* x / 2 is exact as Q1.30; Q1.30 -> Q0.31 saturates. */
    return mf_fp_mul_by_pot(x, 1);
}

static inline int mf_fp_count_leading_zeros(uint32_t x)
{
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while ((x & 0x80000000u) == 0) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* 1/x for x > 0 with x_integer_digits integer bits, as TFLite's GetReciprocal: returns the Q0.31
 * reciprocal of x scaled into [1, 2), and the power of two it was scaled by. */
static inline int32_t mf_fp_get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit)
{
    const int headroom_plus_one = mf_fp_count_leading_zeros((uint32_t)x);
    const int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)x << headroom_plus_one) - ((uint32_t)1 << 31));
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    return mf_fp_one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
}

#endif
