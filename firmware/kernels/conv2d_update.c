/* int8 conv2d backward, filter update in place. */
#include "conv2d_update.h"

void mf_conv2d_update_s8(const mf_conv2d_update_params *params, const int8_t *grad_out, const int8_t *output,
                         const int8_t *input, const int32_t *step_mult, const int32_t *step_shift,
                         const int16_t *channels, int8_t *filter,
                         int16_t *residual)
{
    MF_PARAMS(mf_conv2d_update_params, p, params);
    const mf_window *win = &p->win;
    const int32_t cin = p->in_c, cout = p->out_c;
    for (int32_t k = 0; k < p->n_channels; ++k) {
        const int32_t co = mf_ld_s16(&channels[k]);
        const int32_t mult = mf_ld_s32(&step_mult[co]), shift = mf_ld_s32(&step_shift[co]);
        for (int32_t ky = 0; ky < win->filter_h; ++ky) {
            for (int32_t kx = 0; kx < win->filter_w; ++kx) {
                for (int32_t ci = 0; ci < cin; ++ci) {
                    const int32_t sum = mf_window_weight_sum(win, ky, kx, &grad_out[co], &output[co], cout,
                                                             &input[ci], cin, p->input_offset);
                    const int32_t i = ((co * win->filter_h + ky) * win->filter_w + kx) * cin + ci;
                    mf_sgd_s8(&filter[i], &residual[i], sum, mult, shift);
                }
            }
        }
    }
}
