/* int8 depthwise conv2d backward, filter update in place. */
#include "depthwise_conv2d_update.h"

void mf_depthwise_conv2d_update_s8(const mf_depthwise_conv2d_update_params *params, const int8_t *grad_out,
                                   const int8_t *output, const int8_t *input, const int32_t *step_mult,
                                   const int32_t *step_shift, const int16_t *channels, int8_t *filter,
                                   int16_t *residual)
{
    MF_PARAMS(mf_depthwise_conv2d_update_params, p, params);
    const mf_window *win = &p->win;
    const int32_t cout = p->in_c * p->depth_multiplier;
    for (int32_t k = 0; k < p->n_channels; ++k) {
        const int32_t oc = mf_ld_s16(&channels[k]), c = oc / p->depth_multiplier;
        const int32_t mult = mf_ld_s32(&step_mult[oc]), shift = mf_ld_s32(&step_shift[oc]);
        for (int32_t ky = 0; ky < win->filter_h; ++ky) {
            for (int32_t kx = 0; kx < win->filter_w; ++kx) {
                const int32_t sum = mf_window_weight_sum(win, ky, kx, &grad_out[oc], &output[oc], cout, &input[c],
                                                         p->in_c, p->input_offset);
                const int32_t i = (ky * win->filter_w + kx) * cout + oc;
                mf_sgd_s8(&filter[i], &residual[i], sum, mult, shift);
            }
        }
    }
}
