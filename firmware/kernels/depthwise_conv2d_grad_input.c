/* int8 depthwise conv2d backward, input gradient: one exact 64-bit sum per input value over the
 * (output pixel, tap) pairs that read it and the channel's M output channels. */
#include "depthwise_conv2d_grad_input.h"

void mf_depthwise_conv2d_grad_input_s8(const mf_depthwise_conv2d_grad_input_params *params, const int8_t *grad_out,
                                       const int8_t *output, const int8_t *filter, const int32_t *ratio,
                                       int8_t *grad_in)
{
    MF_PARAMS(mf_depthwise_conv2d_grad_input_params, p, params);
    const mf_window *win = &p->win;
    const int32_t m = p->depth_multiplier, cout = p->in_c * p->depth_multiplier;
    for (int32_t iy = 0; iy < win->in_h; ++iy) {
        for (int32_t ix = 0; ix < win->in_w; ++ix) {
            for (int32_t c = 0; c < p->in_c; ++c) {
                /* filter 1HWO: a tap's weights are cout apart, output channels c*M+j side by side */
                const int64_t acc = mf_window_input_sum(win, iy, ix, &grad_out[c * m], &output[c * m], cout,
                                                        &ratio[c * m], &filter[c * m], cout, 1, m);
                grad_in[(iy * win->in_w + ix) * p->in_c + c] = mf_grad_input_out(acc, p->multiplier, p->shift);
            }
        }
    }
}
