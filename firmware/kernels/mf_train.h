/* Steps shared by the int8 backward kernels (mirrors toolchain/ops/_train.py, which documents
 * the number formats): the gradient through the forward clamp, the 64-bit input-gradient sum
 * brought back to int8, and the QAS-scaled SGD step applied in place. */
#ifndef MF_TRAIN_H
#define MF_TRAIN_H

#include <stdint.h>

#include "mf_quant.h"

/* The gradient through the forward layer's clamp: 0 where its output sat at a bound. */
static inline int32_t mf_grad_masked(int8_t grad, int8_t output, int32_t act_min, int32_t act_max)
{
    return (output > act_min && output < act_max) ? grad : 0;
}

/* The exact sum of weight x (gradient x Q16 ratio) -> the int8 input gradient: round by 2^-16
 * (half up), saturate to int32, requantize to the input gradient's scale, clamp. */
static inline int8_t mf_grad_input_out(int64_t acc, int32_t multiplier, int32_t shift)
{
    int64_t r = (acc + 32768) >> 16;
    r = r < INT32_MIN ? INT32_MIN : (r > INT32_MAX ? INT32_MAX : r);
    const int32_t v = mf_multiply_by_quantized_multiplier((int32_t)r, multiplier, (int)shift);
    return (int8_t)mf_clamp(v, -128, 127);
}

/* The output coordinate (row or column) whose tap k reads input coordinate i in a convolution
 * with this padding, dilation and stride, or -1 if none of the size outputs does. */
static inline int32_t mf_grad_source(int32_t i, int32_t k, int32_t pad, int32_t dilation, int32_t stride,
                                     int32_t size)
{
    const int32_t num = i + pad - k * dilation;
    if (num < 0 || num % stride != 0 || num / stride >= size) {
        return -1;
    }
    return num / stride;
}

/* The SGD step of one int8 weight: w - round(sum * m), clamped to [-127, 127]. */
static inline int8_t mf_sgd_s8(int8_t w, int32_t sum, int32_t mult, int32_t shift)
{
    const int32_t step = mf_multiply_by_quantized_multiplier(sum, mult, (int)shift);
    const int64_t v = (int64_t)w - step;
    return (int8_t)(v < -127 ? -127 : (v > 127 ? 127 : v));
}

/* The SGD step of one int32 bias: b - round(sum * m), saturated. */
static inline int32_t mf_sgd_s32(int32_t b, int32_t sum, int32_t mult, int32_t shift)
{
    const int64_t v = (int64_t)b - mf_multiply_by_quantized_multiplier(sum, mult, (int)shift);
    return (int32_t)(v < INT32_MIN ? INT32_MIN : (v > INT32_MAX ? INT32_MAX : v));
}

#endif
