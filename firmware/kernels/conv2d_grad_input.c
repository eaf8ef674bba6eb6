/* int8 conv2d backward, input gradient: for each input value, the exact 64-bit sum over the
 * (output pixel, tap) pairs that read it. An output row oy reads input row iy through tap ky when
 * iy + pad_h - ky * dilation_h = oy * stride_h. */
#include "conv2d_grad_input.h"

#include "mf_train.h"

void mf_conv2d_grad_input_s8(const mf_conv2d_grad_input_params *params, const int8_t *grad_out, const int8_t *output,
                             const int8_t *filter, const int32_t *ratio, int8_t *grad_in)
{
    MF_PARAMS(mf_conv2d_grad_input_params, p, params);
    const int32_t cin = p->in_c, cout = p->out_c;
    for (int32_t iy = 0; iy < p->in_h; ++iy) {
        for (int32_t ix = 0; ix < p->in_w; ++ix) {
            for (int32_t ci = 0; ci < cin; ++ci) {
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
                        const int32_t o = (oy * p->out_w + ox) * cout;
                        for (int32_t co = 0; co < cout; ++co) {
                            const int32_t h = mf_grad_masked(grad_out[o + co], output[o + co], p->act_min, p->act_max)
                                              * mf_ld_s32(&ratio[co]);
                            acc += (int64_t)mf_ld_s8(&filter[((co * p->filter_h + ky) * p->filter_w + kx) * cin + ci]) * h;
                        }
                    }
                }
                grad_in[(iy * p->in_w + ix) * cin + ci] = mf_grad_input_out(acc, p->multiplier, p->shift);
            }
        }
    }
}
