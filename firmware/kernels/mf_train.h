/* Steps shared by the int8 backward kernels (mirrors toolchain/ops/_train.py, which documents
 * the number formats): the gradient through the forward clamp, the window walks of the conv and
 * depthwise backward kernels (weight-gradient sum of one tap, input-gradient sum of one pixel),
 * the 64-bit input-gradient sum brought back to int8, and the QAS-scaled SGD step applied in place. */
#ifndef MF_TRAIN_H
#define MF_TRAIN_H

#include <stdint.h>

#include "mf_const.h"
#include "mf_quant.h"

/* Element i's bit of a layer output's clamp bits (activation_mask.h: bit i % 8 of mask[i / 8],
 * set where the output lay inside the clamp). */
static inline uint32_t mf_clamp_bit(const uint8_t *mask, int32_t i)
{
    return (mask[i >> 3] >> (i & 7)) & 1u;
}

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

/* The window of a conv-family layer, as every conv backward kernel's params struct holds it: the
 * forward input and output planes, the filter taps, stride, dilation, leading padding and the
 * forward output clamp. */
typedef struct {
    int32_t in_h, in_w;
    int32_t out_h, out_w;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
} mf_window;

/* The outputs [*lo, *hi) of a row (or column) of size outputs whose tap, at offset off (tap *
 * dilation - pad) from output * stride, reads inside an input of in_size. */
static inline void mf_window_span(int32_t off, int32_t stride, int32_t in_size, int32_t size, int32_t *lo,
                                  int32_t *hi)
{
    const int32_t first = off < 0 ? (-off + stride - 1) / stride : 0;
    const int32_t end = in_size > off ? (in_size - off + stride - 1) / stride : 0;
    *lo = first;
    *hi = end < size ? end : size;
}

/* The weight-gradient sum of tap (ky, kx) for one output channel: over the output pixels whose
 * tap reads inside the image, dz[oy][ox] (through the clamp) * (x[iy][ix] + input_offset).
 * grad_out and output point at the channel in pixel 0 (out_c channels a pixel), input at the
 * input channel the tap reads (in_c channels a pixel). Taps in the padding add nothing. */
static inline int32_t mf_window_weight_sum(const mf_window *w, int32_t ky, int32_t kx, const int8_t *grad_out,
                                           const int8_t *output, int32_t out_c, const int8_t *input,
                                           int32_t in_c, int32_t input_offset)
{
    const int32_t off_y = ky * w->dilation_h - w->pad_h, off_x = kx * w->dilation_w - w->pad_w;
    int32_t oy0, oy1, ox0, ox1;
    mf_window_span(off_y, w->stride_h, w->in_h, w->out_h, &oy0, &oy1);
    mf_window_span(off_x, w->stride_w, w->in_w, w->out_w, &ox0, &ox1);
    const int32_t act_min = w->act_min, act_max = w->act_max, x_step = w->stride_w * in_c;
    int32_t sum = 0;
    for (int32_t oy = oy0; oy < oy1; ++oy) {
        const int32_t o0 = (oy * w->out_w + ox0) * out_c;
        const int8_t *g = &grad_out[o0], *y = &output[o0];
        const int8_t *x = &input[((oy * w->stride_h + off_y) * w->in_w + ox0 * w->stride_w + off_x) * in_c];
        for (int32_t ox = ox0; ox < ox1; ++ox, g += out_c, y += out_c, x += x_step) {
            sum += mf_grad_masked(*g, *y, act_min, act_max) * ((int32_t)*x + input_offset);
        }
    }
    return sum;
}

/* The exact input-gradient sum of input pixel (iy, ix): over the (tap, output pixel) pairs that
 * read it and n output channels j, filter[tap][j] * dz[oy][ox][j] (through the clamp) * ratio[j].
 * grad_out and output point at the first of the n channels in pixel 0 (out_c channels a pixel),
 * ratio at its ratio, filter at its weight of tap 0; a tap's weights are tap_stride apart, the
 * channels' channel_stride apart. */
static inline int64_t mf_window_input_sum(const mf_window *w, int32_t iy, int32_t ix, const int8_t *grad_out,
                                          const int8_t *output, int32_t out_c, const int32_t *ratio,
                                          const int8_t *filter, int32_t tap_stride, int32_t channel_stride,
                                          int32_t n)
{
    int64_t acc = 0;
    for (int32_t ky = 0; ky < w->filter_h; ++ky) {
        const int32_t oy = mf_grad_source(iy, ky, w->pad_h, w->dilation_h, w->stride_h, w->out_h);
        if (oy < 0) {
            continue;
        }
        for (int32_t kx = 0; kx < w->filter_w; ++kx) {
            const int32_t ox = mf_grad_source(ix, kx, w->pad_w, w->dilation_w, w->stride_w, w->out_w);
            if (ox < 0) {
                continue;
            }
            const int32_t o = (oy * w->out_w + ox) * out_c;
            const int8_t *f = &filter[(ky * w->filter_w + kx) * tap_stride];
            for (int32_t j = 0; j < n; ++j) {
                const int32_t h = mf_grad_masked(grad_out[o + j], output[o + j], w->act_min, w->act_max)
                                  * mf_ld_s32(&ratio[j]);
                acc += (int64_t)mf_ld_s8(&f[j * channel_stride]) * h;
            }
        }
    }
    return acc;
}

/* Fraction bits of a trained weight's master copy: w + r / 2^16, r its int16 residual. */
#define MF_RESIDUAL_BITS 16

/* The SGD step of one int8 weight and its int16 residual, the master copy v = w * 2^16 + r:
 * v - round(sum * m * 2^16) (sum * mult exact in 64 bits, one rounding, ties away from zero),
 * clamped to [-127, 127] * 2^16; then w = v rounded to the nearest unit (half up) and r = the
 * rest, in [-2^15, 2^15). Steps below half a unit add up in r instead of rounding to nothing. */
static inline void mf_sgd_s8(int8_t *w, int16_t *r, int32_t sum, int32_t mult, int32_t shift)
{
    const int32_t s = 31 - MF_RESIDUAL_BITS - shift; /* >= 1 (checked at generation) */
    const int64_t p = (int64_t)sum * mult, half = (int64_t)1 << (s - 1);
    const int64_t step = p >= 0 ? (p + half) >> s : -((-p + half) >> s);
    const int64_t top = (int64_t)127 << MF_RESIDUAL_BITS;
    int64_t v = ((int64_t)*w << MF_RESIDUAL_BITS) + *r - step;
    v = v < -top ? -top : (v > top ? top : v);
    const int64_t q = (v + ((int64_t)1 << (MF_RESIDUAL_BITS - 1))) >> MF_RESIDUAL_BITS;
    *w = (int8_t)q;
    *r = (int16_t)(v - (q << MF_RESIDUAL_BITS));
}

/* The SGD step of one int32 bias: b - round(sum * m), saturated. */
static inline int32_t mf_sgd_s32(int32_t b, int32_t sum, int32_t mult, int32_t shift)
{
    const int64_t v = (int64_t)b - mf_multiply_by_quantized_multiplier(sum, mult, (int)shift);
    return (int32_t)(v < INT32_MIN ? INT32_MIN : (v > INT32_MAX ? INT32_MAX : v));
}

#endif
