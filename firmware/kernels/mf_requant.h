/* TFLite's MultiplyByQuantizedMultiplier in one 64-bit multiply-accumulate (SMLAL on Arm).
 *
 * TFLM rounds twice: x = (a*b + 2^30) >> 31 (its SaturatingRoundingDoublingHighMul: the nudge and
 * the truncating division come to this floor for every a*b; the saturation only fires for
 * INT32_MIN * INT32_MIN, and a Q31 multiplier is never negative), then x / 2^e rounded half away
 * from zero. For e >= 2 both fold into floor((a*b + K) / 2^(31+e)) with
 * K = 2^30 + 2^(30+e) - [x < 0] * 2^31, and x < 0 exactly when a < 0 (for a < 0 with x == 0 the
 * smaller K still gives 0). So: start the accumulator at (2^(e-2) + sign(a)) : (2^30 | sign bit),
 * SMLAL a*b into it and shift its high word right by e - 1. tests/test_requant.py checks it
 * against mf_multiply_by_quantized_multiplier on edge cases. */
#ifndef MF_REQUANT_H
#define MF_REQUANT_H

#include <stdint.h>

#include "mf_quant.h"

#if defined(__ARM_FEATURE_SAT)
#include <arm_acle.h>
#endif

/* Per-channel constants of the fast path: round_hi = 2^(e-2), rshift = e - 1, for shift = -e <= -2. */
static inline int32_t mf_requant_rshift(int32_t acc, int32_t mult, int32_t round_hi, int32_t rshift)
{
    const uint32_t lo = 0x40000000u | ((uint32_t)acc & 0x80000000u);
    const uint32_t hi = (uint32_t)round_hi + (uint32_t)(acc >> 31);
    const int64_t k = (int64_t)(((uint64_t)hi << 32) | lo);
    return (int32_t)((k + (int64_t)acc * mult) >> 32) >> rshift;
}

/* The *_dsp kernels' form, with the output offset folded in: per channel the multiplier and
 * q_hi = (2 * off + 1) * 2^(e-2) (mcuforge.ops._conv_dsp.requant_array), since off * 2^(31+e) added
 * before the division adds off after it. 2 * off + 1 is odd, so e - 2 = ctz(q_hi) (RBIT + CLZ once
 * per channel). The value of TFLite's requantization plus off, before the int8 clamp. */
static inline int32_t mf_requant_folded_shift(int32_t q_hi)
{
    return __builtin_ctz((uint32_t)q_hi);
}

static inline int32_t mf_requant_folded(int32_t acc, int32_t mult, int32_t q_hi, int32_t s)
{
    return mf_requant_rshift(acc, mult, q_hi, s) >> 1; /* >> (e - 2) >> 1: SSAT's own shift in the asm */
}

/* mf_requant_folded clamped to [lo, hi]. */
static inline int8_t mf_requant_folded_s8(int32_t acc, int32_t mult, int32_t q_hi, int32_t lo, int32_t hi)
{
    const int32_t v = mf_requant_folded(acc, mult, q_hi, mf_requant_folded_shift(q_hi));
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* mf_requant_folded_s8 for the full int8 range ([lo, hi] = [-128, 127]: no fused activation, or a
 * ReLU whose zero point is -128): one saturation (SSAT on Arm) instead of two comparisons. */
static inline int8_t mf_requant_folded_full(int32_t acc, int32_t mult, int32_t q_hi, int32_t s)
{
    const int32_t v = mf_requant_folded(acc, mult, q_hi, s);
#if defined(__ARM_FEATURE_SAT)
    return (int8_t)__ssat(v, 8);
#else
    return (int8_t)(v < INT8_MIN ? INT8_MIN : (v > INT8_MAX ? INT8_MAX : v));
#endif
}

/* mf_multiply_by_quantized_multiplier(acc, mult, shift) for mult >= 0: the one-SMLAL path when the
 * shift is right by 2 or more (every layer of a usual model), TFLite's two steps otherwise. */
static inline int32_t mf_requant(int32_t acc, int32_t mult, int32_t shift)
{
    if (shift <= -2) {
        return mf_requant_rshift(acc, mult, (int32_t)1 << (-shift - 2), -shift - 1);
    }
    return mf_multiply_by_quantized_multiplier(acc, mult, (int)shift);
}

#endif
