/* int8 depthwise convolution, bit-exact with TFLM's reference DepthwiseConvPerChannel.
 *
 * mf_depthwise_conv2d_s8_ref is the plain reference loop; mf_depthwise_conv2d_s8 computes the
 * same values with the range of valid taps found once per output pixel (no test per tap) and
 * pointers stepping through input and filter; with depth multiplier 1 (the usual case) four
 * channels are accumulated at once. */
#include "depthwise_conv2d.h"

#include <stddef.h>

#include "mf_quant.h"

static int8_t requantize(int32_t acc, const mf_depthwise_conv2d_params *p, int32_t oc,
                         const int32_t *mult, const int32_t *shift)
{
    const int32_t q = p->per_channel ? oc : 0;
    acc = mf_multiply_by_quantized_multiplier(acc, mf_ld_s32(&mult[q]), (int)mf_ld_s32(&shift[q]));
    acc += p->output_offset;
    return (int8_t)mf_clamp(acc, p->act_min, p->act_max);
}

void mf_depthwise_conv2d_s8_ref(const mf_depthwise_conv2d_params *params, const int8_t *input,
                                const int8_t *filter, const int32_t *bias, const int32_t *mult,
                                const int32_t *shift, int8_t *output)
{
    MF_PARAMS(mf_depthwise_conv2d_params, p, params);
    const int32_t in_c = p->in_c;
    const int32_t out_c = (int32_t)p->in_c * p->depth_multiplier;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            for (int32_t ic = 0; ic < in_c; ++ic) {
                for (int32_t m = 0; m < p->depth_multiplier; ++m) {
                    const int32_t oc = ic * p->depth_multiplier + m; /* reads input channel ic */
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                        const int32_t in_y = oy * p->stride_h - p->pad_h + ky * p->dilation_h;
                        for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                            const int32_t in_x = ox * p->stride_w - p->pad_w + kx * p->dilation_w;
                            if (in_y < 0 || in_y >= p->in_h || in_x < 0 || in_x >= p->in_w) {
                                continue; /* zero padding contributes nothing */
                            }
                            const int32_t x = input[(in_y * p->in_w + in_x) * in_c + ic];
                            const int32_t w = mf_ld_s8(&filter[(ky * p->filter_w + kx) * out_c + oc]);
                            acc += w * (x + p->input_offset);
                        }
                    }
                    if (bias != NULL) {
                        acc += mf_ld_s32(&bias[oc]);
                    }
                    output[(oy * p->out_w + ox) * out_c + oc] = requantize(acc, p, oc, mult, shift);
                }
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

/* Depth multiplier 1: output channel c reads input channel c, so neighbouring channels share
 * every tap's addressing and their inputs and weights are contiguous: four channels are
 * accumulated at once in four registers. Parameters are copied to locals: stores through
 * int8_t pointers may alias anything, which would make the compiler reload them. */
static void depthwise_m1_s8(const mf_depthwise_conv2d_params *p, const int8_t *input,
                            const int8_t *filter, const int32_t *bias, const int32_t *mult,
                            const int32_t *shift, int8_t *output)
{
    const int32_t ch = p->in_c, in_h = p->in_h, in_w = p->in_w, out_h = p->out_h, out_w = p->out_w;
    const int32_t fh = p->filter_h, fw = p->filter_w, sh = p->stride_h, sw = p->stride_w;
    const int32_t dh = p->dilation_h, dw = p->dilation_w, ph = p->pad_h, pw = p->pad_w;
    const int32_t off = p->input_offset;
    for (int32_t oy = 0; oy < out_h; ++oy) {
        const int32_t in_y0 = oy * sh - ph;
        const int32_t ky0 = first_tap(in_y0, dh);
        const int32_t ky1 = end_tap(in_y0, dh, in_h, fh);
        for (int32_t ox = 0; ox < out_w; ++ox) {
            const int32_t in_x0 = ox * sw - pw;
            const int32_t kx0 = first_tap(in_x0, dw);
            const int32_t kx1 = end_tap(in_x0, dw, in_w, fw);
            int8_t *out = output + (oy * out_w + ox) * ch;
            int32_t c = 0;
            for (; c + 4 <= ch; c += 4) {
                int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                for (int32_t ky = ky0; ky < ky1; ++ky) {
                    const int8_t *x = input + ((in_y0 + ky * dh) * in_w + in_x0 + kx0 * dw) * ch + c;
                    const int8_t *w = filter + (ky * fw + kx0) * ch + c;
                    for (int32_t kx = kx0; kx < kx1; ++kx, x += dw * ch, w += ch) {
                        a0 += (int32_t)mf_ld_s8(&w[0]) * ((int32_t)x[0] + off);
                        a1 += (int32_t)mf_ld_s8(&w[1]) * ((int32_t)x[1] + off);
                        a2 += (int32_t)mf_ld_s8(&w[2]) * ((int32_t)x[2] + off);
                        a3 += (int32_t)mf_ld_s8(&w[3]) * ((int32_t)x[3] + off);
                    }
                }
                if (bias != NULL) {
                    a0 += mf_ld_s32(&bias[c]);
                    a1 += mf_ld_s32(&bias[c + 1]);
                    a2 += mf_ld_s32(&bias[c + 2]);
                    a3 += mf_ld_s32(&bias[c + 3]);
                }
                out[c] = requantize(a0, p, c, mult, shift);
                out[c + 1] = requantize(a1, p, c + 1, mult, shift);
                out[c + 2] = requantize(a2, p, c + 2, mult, shift);
                out[c + 3] = requantize(a3, p, c + 3, mult, shift);
            }
            for (; c < ch; ++c) { /* the last ch % 4 channels */
                int32_t acc = 0;
                for (int32_t ky = ky0; ky < ky1; ++ky) {
                    const int8_t *x = input + ((in_y0 + ky * dh) * in_w + in_x0 + kx0 * dw) * ch + c;
                    const int8_t *w = filter + (ky * fw + kx0) * ch + c;
                    for (int32_t kx = kx0; kx < kx1; ++kx, x += dw * ch, w += ch) {
                        acc += (int32_t)mf_ld_s8(w) * ((int32_t)*x + off);
                    }
                }
                out[c] = requantize(bias != NULL ? acc + mf_ld_s32(&bias[c]) : acc, p, c, mult, shift);
            }
        }
    }
}

void mf_depthwise_conv2d_s8(const mf_depthwise_conv2d_params *params, const int8_t *input,
                            const int8_t *filter, const int32_t *bias, const int32_t *mult,
                            const int32_t *shift, int8_t *output)
{
    MF_PARAMS(mf_depthwise_conv2d_params, p, params);
    if (p->depth_multiplier == 1) {
        depthwise_m1_s8(p, input, filter, bias, mult, shift, output);
        return;
    }
    const int32_t in_c = p->in_c;
    const int32_t mult_c = p->depth_multiplier;
    const int32_t out_c = in_c * mult_c;
    const int32_t dh = p->dilation_h, dw = p->dilation_w;
    const int32_t x_step = dw * in_c;   /* next tap along a row, in the input */
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t in_y0 = oy * p->stride_h - p->pad_h;
        const int32_t ky0 = first_tap(in_y0, dh);
        const int32_t ky1 = end_tap(in_y0, dh, p->in_h, p->filter_h);
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t in_x0 = ox * p->stride_w - p->pad_w;
            const int32_t kx0 = first_tap(in_x0, dw);
            const int32_t kx1 = end_tap(in_x0, dw, p->in_w, p->filter_w);
            int8_t *out = output + (oy * p->out_w + ox) * out_c;
            for (int32_t oc = 0; oc < out_c; ++oc) {
                const int32_t ic = oc / mult_c;
                int32_t acc = 0;
                for (int32_t ky = ky0; ky < ky1; ++ky) {
                    const int8_t *x = input + ((in_y0 + ky * dh) * p->in_w + in_x0 + kx0 * dw) * in_c + ic;
                    const int8_t *w = filter + (ky * p->filter_w + kx0) * out_c + oc;
                    for (int32_t kx = kx0; kx < kx1; ++kx, x += x_step, w += out_c) {
                        acc += (int32_t)mf_ld_s8(w) * ((int32_t)*x + p->input_offset);
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
