/* Integer quantization maths shared by every int8 kernel (mirrors toolchain/graph/quant.py).
 * Multipliers are Q31 (TFLite QuantizeMultiplier), shift > 0 is a left shift. */
#ifndef MF_QUANT_H
#define MF_QUANT_H

#include <stdint.h>

static inline int32_t mf_sat_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    int64_t ab = (int64_t)a * (int64_t)b;
    int32_t nudge = ab >= 0 ? ((int32_t)1 << 30) : (1 - ((int32_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static inline int32_t mf_rounding_divide_by_pot(int32_t x, int exponent)
{
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^shift, rounded as TFLite's MultiplyByQuantizedMultiplier (double rounding). */
static inline int32_t mf_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift)
{
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    int32_t shifted = (int32_t)((uint32_t)x << left);
    return mf_rounding_divide_by_pot(mf_sat_rounding_doubling_high_mul(shifted, multiplier), right);
}

static inline int32_t mf_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

#endif
