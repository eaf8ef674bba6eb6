/* int8 convolution, bit-exact with TFLM's reference ConvPerChannel.
 *
 * mf_conv2d_s8_ref is the plain reference loop: one output value per (y, x, channel), taps in
 * the zero padding skipped, then TFLite's requantization. mf_conv2d_s8 computes the same
 * values faster: the range of valid taps is found once per output pixel (no test per tap),
 * and with dilation_w == 1 the valid part of a filter row and the input under it are both
 * contiguous, so the inner loop is one run of multiply-adds. 1x1/stride-1 layers (pointwise,
 * most of a DS-CNN) take a matrix-product path. Tests hold both to the numpy reference. */
#include "conv2d.h"

#include <stddef.h>

#include "mf_quant.h"

static int8_t requantize(int32_t acc, const mf_conv2d_params *p, int32_t oc, const int32_t *mult,
                         const int32_t *shift)
{
    const int32_t q = p->per_channel ? oc : 0;
    acc = mf_multiply_by_quantized_multiplier(acc, mf_ld_s32(&mult[q]), (int)mf_ld_s32(&shift[q]));
    acc += p->output_offset;
    return (int8_t)mf_clamp(acc, p->act_min, p->act_max);
}

void mf_conv2d_s8_ref(const mf_conv2d_params *params, const int8_t *input, const int8_t *filter,
                      const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *output)
{
    MF_PARAMS(mf_conv2d_params, p, params);
    const int32_t in_c = p->in_c;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                int32_t acc = 0;
                for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                    const int32_t in_y = oy * p->stride_h - p->pad_h + ky * p->dilation_h;
                    for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                        const int32_t in_x = ox * p->stride_w - p->pad_w + kx * p->dilation_w;
                        if (in_y < 0 || in_y >= p->in_h || in_x < 0 || in_x >= p->in_w) {
                            continue; /* zero padding contributes nothing */
                        }
                        for (int32_t c = 0; c < in_c; ++c) {
                            const int32_t x = input[(in_y * p->in_w + in_x) * in_c + c];
                            const int32_t w = mf_ld_s8(&filter[((oc * p->filter_h + ky) * p->filter_w + kx) * in_c + c]);
                            acc += w * (x + p->input_offset);
                        }
                    }
                }
                if (bias != NULL) {
                    acc += mf_ld_s32(&bias[oc]);
                }
                output[(oy * p->out_w + ox) * p->out_c + oc] = requantize(acc, p, oc, mult, shift);
            }
        }
    }
}

/* First tap k >= 0 with start + k*step >= 0. */
static int32_t first_tap(int32_t start, int32_t step)
{
    return start >= 0 ? 0 : (-start + step - 1) / step;
}

/* One past the last tap k < taps with start + k*step < size. */
static int32_t end_tap(int32_t start, int32_t step, int32_t size, int32_t taps)
{
    if (start >= size) {
        return 0;
    }
    const int32_t n = (size - start + step - 1) / step;
    return n < taps ? n : taps;
}

/* sum(w[0..n)) * input_offset + bias: the input-offset and bias terms of one output channel,
 * so that the inner loops only multiply-add raw int8 values. The result is the same 32-bit
 * value as TFLM's sum of w * (x + input_offset) (rearranged in wrapping arithmetic). */
static uint32_t offset_term(const int8_t *w, int32_t n, int32_t input_offset, const int32_t *bias, int32_t oc)
{
    int32_t wsum = 0;
    for (int32_t c = 0; c < n; ++c) {
        wsum += mf_ld_s8(&w[c]);
    }
    return (uint32_t)wsum * (uint32_t)input_offset + (uint32_t)(bias != NULL ? mf_ld_s32(&bias[oc]) : 0);
}

/* 1x1 filter, stride 1, no padding: out[pixel][oc] = w[oc] . in[pixel] + offset term. Two
 * output channels x two pixels per pass: each loaded value feeds two multiply-adds. */
static void conv2d_1x1_s8(const mf_conv2d_params *p, const int8_t *input, const int8_t *filter,
                          const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *output)
{
    const int32_t pixels = (int32_t)p->out_h * p->out_w;
    const int32_t in_c = p->in_c, out_c = p->out_c;
    for (int32_t oc = 0; oc < out_c; oc += 2) {
        const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc; /* odd count: the last channel twice */
        const int8_t *w0 = filter + oc * in_c;
        const int8_t *w1 = filter + oc1 * in_c;
        const uint32_t base0 = offset_term(w0, in_c, p->input_offset, bias, oc);
        const uint32_t base1 = offset_term(w1, in_c, p->input_offset, bias, oc1);
        int32_t i = 0;
        for (; i + 2 <= pixels; i += 2) {
            const int8_t *x0 = input + i * in_c;
            const int8_t *x1 = x0 + in_c;
            int32_t d00 = 0, d01 = 0, d10 = 0, d11 = 0; /* d<pixel><channel> */
            for (int32_t c = 0; c < in_c; ++c) {
                const int32_t xa = x0[c], xb = x1[c], wa = mf_ld_s8(&w0[c]), wb = mf_ld_s8(&w1[c]);
                d00 += wa * xa;
                d01 += wb * xa;
                d10 += wa * xb;
                d11 += wb * xb;
            }
            int8_t *out = output + i * out_c;
            out[oc] = requantize((int32_t)((uint32_t)d00 + base0), p, oc, mult, shift);
            out[oc1] = requantize((int32_t)((uint32_t)d01 + base1), p, oc1, mult, shift);
            out[out_c + oc] = requantize((int32_t)((uint32_t)d10 + base0), p, oc, mult, shift);
            out[out_c + oc1] = requantize((int32_t)((uint32_t)d11 + base1), p, oc1, mult, shift);
        }
        if (i < pixels) { /* odd pixel count: the last pixel */
            const int8_t *x0 = input + i * in_c;
            int32_t d0 = 0, d1 = 0;
            for (int32_t c = 0; c < in_c; ++c) {
                d0 += (int32_t)mf_ld_s8(&w0[c]) * x0[c];
                d1 += (int32_t)mf_ld_s8(&w1[c]) * x0[c];
            }
            output[i * out_c + oc] = requantize((int32_t)((uint32_t)d0 + base0), p, oc, mult, shift);
            output[i * out_c + oc1] = requantize((int32_t)((uint32_t)d1 + base1), p, oc1, mult, shift);
        }
    }
}

void mf_conv2d_s8(const mf_conv2d_params *params, const int8_t *input, const int8_t *filter,
                  const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *output)
{
    MF_PARAMS(mf_conv2d_params, p, params);
    if (p->filter_h == 1 && p->filter_w == 1 && p->stride_h == 1 && p->stride_w == 1 &&
        p->pad_h == 0 && p->pad_w == 0 && p->out_h == p->in_h && p->out_w == p->in_w) {
        conv2d_1x1_s8(p, input, filter, bias, mult, shift, output);
        return;
    }
    const int32_t in_c = p->in_c;
    const int32_t dh = p->dilation_h, dw = p->dilation_w;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t in_y0 = oy * p->stride_h - p->pad_h;
        const int32_t ky0 = first_tap(in_y0, dh);
        const int32_t ky1 = end_tap(in_y0, dh, p->in_h, p->filter_h);
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t in_x0 = ox * p->stride_w - p->pad_w;
            const int32_t kx0 = first_tap(in_x0, dw);
            const int32_t kx1 = end_tap(in_x0, dw, p->in_w, p->filter_w);
            const int32_t run = (kx1 - kx0) * in_c; /* contiguous values per filter row when dw == 1 */
            int8_t *out = output + (oy * p->out_w + ox) * p->out_c;
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                int32_t acc = 0;
                for (int32_t ky = ky0; ky < ky1; ++ky) {
                    const int8_t *x = input + ((in_y0 + ky * dh) * p->in_w + in_x0 + kx0 * dw) * in_c;
                    const int8_t *w = filter + ((oc * p->filter_h + ky) * p->filter_w + kx0) * in_c;
                    if (dw == 1) {
                        for (int32_t i = 0; i < run; ++i) {
                            acc += (int32_t)mf_ld_s8(&w[i]) * ((int32_t)x[i] + p->input_offset);
                        }
                    } else {
                        for (int32_t kx = kx0; kx < kx1; ++kx, x += dw * in_c, w += in_c) {
                            for (int32_t c = 0; c < in_c; ++c) {
                                acc += (int32_t)mf_ld_s8(&w[c]) * ((int32_t)x[c] + p->input_offset);
                            }
                        }
                    }
                }
                if (bias != NULL) {
                    acc += mf_ld_s32(&bias[oc]);
                }
                out[oc] = requantize(acc, p, oc, mult, shift);
            }
        }
    }
}
