/* Reference int8 convolution: one output value per (y, x, channel), skipping taps that fall
 * in the zero padding, then TFLite's requantization. A 1x1/stride-1 fast path runs the same
 * arithmetic with simpler indexing (pointwise layers dominate DS-CNN-style models). */
#include "conv2d.h"

#include <stddef.h>

#include "mf_quant.h"

static int8_t requantize(int32_t acc, const mf_conv2d_params *p, int32_t mult, int32_t shift)
{
    acc = mf_multiply_by_quantized_multiplier(acc, mult, (int)shift);
    acc += p->output_offset;
    return (int8_t)mf_clamp(acc, p->act_min, p->act_max);
}

/* 1x1 filter, stride 1, no padding: each output pixel is a matrix-vector product. */
static void conv2d_1x1_s8(const mf_conv2d_params *p, const int8_t *input, const int8_t *filter,
                          const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *output)
{
    const int32_t pixels = (int32_t)p->out_h * p->out_w;
    const int32_t in_c = p->in_c;
    for (int32_t i = 0; i < pixels; ++i) {
        const int8_t *in = input + i * in_c;
        int8_t *out = output + i * p->out_c;
        for (int32_t oc = 0; oc < p->out_c; ++oc) {
            const int8_t *w = filter + oc * in_c;
            int32_t acc = 0;
            for (int32_t c = 0; c < in_c; ++c) {
                acc += (int32_t)w[c] * ((int32_t)in[c] + p->input_offset);
            }
            if (bias != NULL) {
                acc += bias[oc];
            }
            const int32_t q = p->per_channel ? oc : 0;
            out[oc] = requantize(acc, p, mult[q], shift[q]);
        }
    }
}

void mf_conv2d_s8(const mf_conv2d_params *p, const int8_t *input, const int8_t *filter,
                  const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *output)
{
    if (p->filter_h == 1 && p->filter_w == 1 && p->stride_h == 1 && p->stride_w == 1 &&
        p->pad_h == 0 && p->pad_w == 0 && p->out_h == p->in_h && p->out_w == p->in_w) {
        conv2d_1x1_s8(p, input, filter, bias, mult, shift, output);
        return;
    }
    const int32_t in_c = p->in_c;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t in_y0 = oy * p->stride_h - p->pad_h;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t in_x0 = ox * p->stride_w - p->pad_w;
            int8_t *out = output + (oy * p->out_w + ox) * p->out_c;
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                int32_t acc = 0;
                for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                    const int32_t in_y = in_y0 + ky * p->dilation_h;
                    if (in_y < 0 || in_y >= p->in_h) {
                        continue; /* zero padding contributes nothing */
                    }
                    for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                        const int32_t in_x = in_x0 + kx * p->dilation_w;
                        if (in_x < 0 || in_x >= p->in_w) {
                            continue;
                        }
                        const int8_t *in = input + (in_y * p->in_w + in_x) * in_c;
                        const int8_t *w = filter + ((oc * p->filter_h + ky) * p->filter_w + kx) * in_c;
                        for (int32_t c = 0; c < in_c; ++c) {
                            acc += (int32_t)w[c] * ((int32_t)in[c] + p->input_offset);
                        }
                    }
                }
                if (bias != NULL) {
                    acc += bias[oc];
                }
                const int32_t q = p->per_channel ? oc : 0;
                out[oc] = requantize(acc, p, mult[q], shift[q]);
            }
        }
    }
}
