/* int8 conv2d backward, input gradient: for each input value, the exact 64-bit sum over the
 * (output pixel, tap) pairs that read it and all output channels (mf_window_input_sum). */
#include "conv2d_grad_input.h"

void mf_conv2d_grad_input_s8(const mf_conv2d_grad_input_params *params, const int8_t *grad_out, const int8_t *output,
                             const int8_t *filter, const int32_t *ratio, int8_t *grad_in)
{
    MF_PARAMS(mf_conv2d_grad_input_params, p, params);
    const mf_window *win = &p->win;
    const int32_t cin = p->in_c, cout = p->out_c;
    for (int32_t iy = 0; iy < win->in_h; ++iy) {
        for (int32_t ix = 0; ix < win->in_w; ++ix) {
            for (int32_t ci = 0; ci < cin; ++ci) {
                /* filter OHWI: a tap's weights are cin apart, the output channels KH*KW*cin */
                const int64_t acc = mf_window_input_sum(win, iy, ix, grad_out, output, cout, ratio, &filter[ci], cin,
                                                        win->filter_h * win->filter_w * cin, cout);
                grad_in[(iy * win->in_w + ix) * cin + ci] = mf_grad_input_out(acc, p->multiplier, p->shift);
            }
        }
    }
}
