/* Reference int8 depthwise convolution: every output channel filters one input channel;
 * taps in the zero padding are skipped, then TFLite's requantization. */
#include "depthwise_conv2d.h"

#include <stddef.h>

#include "mf_quant.h"

void mf_depthwise_conv2d_s8(const mf_depthwise_conv2d_params *p, const int8_t *input,
                            const int8_t *filter, const int32_t *bias, const int32_t *mult,
                            const int32_t *shift, int8_t *output)
{
    const int32_t in_c = p->in_c;
    const int32_t out_c = (int32_t)p->in_c * p->depth_multiplier;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t in_y0 = oy * p->stride_h - p->pad_h;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t in_x0 = ox * p->stride_w - p->pad_w;
            int8_t *out = output + (oy * p->out_w + ox) * out_c;
            for (int32_t ic = 0; ic < in_c; ++ic) {
                for (int32_t m = 0; m < p->depth_multiplier; ++m) {
                    const int32_t oc = ic * p->depth_multiplier + m;
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
                            const int32_t x = input[(in_y * p->in_w + in_x) * in_c + ic];
                            const int32_t w = filter[(ky * p->filter_w + kx) * out_c + oc];
                            acc += w * (x + p->input_offset);
                        }
                    }
                    if (bias != NULL) {
                        acc += bias[oc];
                    }
                    const int32_t q = p->per_channel ? oc : 0;
                    acc = mf_multiply_by_quantized_multiplier(acc, mult[q], (int)shift[q]);
                    acc += p->output_offset;
                    out[oc] = (int8_t)mf_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
