/* int8 fully connected backward, input gradient: one exact 64-bit sum per input value. */
#include "fully_connected_grad_input.h"

#include "mf_train.h"

void mf_fully_connected_grad_input_s8(const mf_fully_connected_grad_input_params *params, const int8_t *grad_out,
                                      const int8_t *output, const int8_t *weights, const int32_t *ratio,
                                      int8_t *grad_in)
{
    MF_PARAMS(mf_fully_connected_grad_input_params, p, params);
    const int32_t depth = p->accum_depth, units = p->out_depth;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *g = grad_out + b * units, *y = output + b * units;
        for (int32_t d = 0; d < depth; ++d) {
            int64_t acc = 0;
            for (int32_t n = 0; n < units; ++n) {
                const int32_t h = mf_grad_masked(g[n], y[n], p->act_min, p->act_max) * mf_ld_s32(&ratio[n]);
                acc += (int64_t)mf_ld_s8(&weights[n * depth + d]) * h;
            }
            grad_in[b * depth + d] = mf_grad_input_out(acc, p->multiplier, p->shift);
        }
    }
}
