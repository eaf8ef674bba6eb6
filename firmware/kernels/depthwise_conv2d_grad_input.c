/* int8 depthwise conv2d backward, input gradient: one exact 64-bit sum per input value. */
#include "depthwise_conv2d_grad_input.h"

#include "mf_train.h"

void mf_depthwise_conv2d_grad_input_s8(const mf_depthwise_conv2d_grad_input_params *params, const int8_t *grad_out,
                                       const int8_t *output, const int8_t *filter, const int32_t *ratio,
                                       int8_t *grad_in)
{
    MF_PARAMS(mf_depthwise_conv2d_grad_input_params, p, params);
    const int32_t m = p->depth_multiplier, cout = p->in_c * p->depth_multiplier;
    for (int32_t iy = 0; iy < p->in_h; ++iy) {
        for (int32_t ix = 0; ix < p->in_w; ++ix) {
            for (int32_t c = 0; c < p->in_c; ++c) {
                int64_t acc = 0;
                for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                    const int32_t oy = mf_grad_source(iy, ky, p->pad_h, p->dilation_h, p->stride_h, p->out_h);
                    if (oy < 0) {
                        continue;
                    }
                    for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                        const int32_t ox = mf_grad_source(ix, kx, p->pad_w, p->dilation_w, p->stride_w, p->out_w);
                        if (ox < 0) {
                            continue;
                        }
                        for (int32_t j = 0; j < m; ++j) {
                            const int32_t oc = c * m + j, o = (oy * p->out_w + ox) * cout + oc;
                            const int32_t h = mf_grad_masked(grad_out[o], output[o], p->act_min, p->act_max)
                                              * mf_ld_s32(&ratio[oc]);
                            acc += (int64_t)mf_ld_s8(&filter[(ky * p->filter_w + kx) * cout + oc]) * h;
                        }
                    }
                }
                grad_in[(iy * p->in_w + ix) * p->in_c + c] = mf_grad_input_out(acc, p->multiplier, p->shift);
            }
        }
    }
}
