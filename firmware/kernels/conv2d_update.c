/* int8 conv2d backward, filter update in place. */
#include "conv2d_update.h"

#include "mf_train.h"

void mf_conv2d_update_s8(const mf_conv2d_update_params *params, const int8_t *grad_out, const int8_t *output,
                         const int8_t *input, const int32_t *step_mult, const int32_t *step_shift,
                         const int16_t *channels, int8_t *filter)
{
    MF_PARAMS(mf_conv2d_update_params, p, params);
    const int32_t cin = p->in_c, cout = p->out_c;
    for (int32_t k = 0; k < p->n_channels; ++k) {
        const int32_t co = mf_ld_s16(&channels[k]);
        const int32_t mult = mf_ld_s32(&step_mult[co]), shift = mf_ld_s32(&step_shift[co]);
        for (int32_t ky = 0; ky < p->filter_h; ++ky) {
            for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                for (int32_t ci = 0; ci < cin; ++ci) {
                    int32_t sum = 0;
                    for (int32_t oy = 0; oy < p->out_h; ++oy) {
                        const int32_t iy = oy * p->stride_h - p->pad_h + ky * p->dilation_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (int32_t ox = 0; ox < p->out_w; ++ox) {
                            const int32_t ix = ox * p->stride_w - p->pad_w + kx * p->dilation_w;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            const int32_t o = (oy * p->out_w + ox) * cout + co;
                            const int32_t g = mf_grad_masked(grad_out[o], output[o], p->act_min, p->act_max);
                            sum += g * ((int32_t)input[(iy * p->in_w + ix) * cin + ci] + p->input_offset);
                        }
                    }
                    int8_t *w = &filter[((co * p->filter_h + ky) * p->filter_w + kx) * cin + ci];
                    *w = mf_sgd_s8(*w, sum, mult, shift);
                }
            }
        }
    }
}
