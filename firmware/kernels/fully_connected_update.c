/* int8 fully connected backward, weight update in place. */
#include "fully_connected_update.h"

#include "mf_train.h"

void mf_fully_connected_update_s8(const mf_fully_connected_update_params *params, const int8_t *grad_out,
                                  const int8_t *output, const int8_t *input, const int32_t *step_mult,
                                  const int32_t *step_shift, const int16_t *channels, int8_t *weights,
                                  int16_t *residual)
{
    MF_PARAMS(mf_fully_connected_update_params, p, params);
    const int32_t depth = p->accum_depth, units = p->out_depth;
    for (int32_t k = 0; k < p->n_channels; ++k) {
        const int32_t n = mf_ld_s16(&channels[k]);
        const int32_t mult = mf_ld_s32(&step_mult[n]), shift = mf_ld_s32(&step_shift[n]);
        for (int32_t d = 0; d < depth; ++d) {
            int32_t sum = 0;
            for (int32_t b = 0; b < p->batches; ++b) {
                const int32_t g = mf_grad_masked(grad_out[b * units + n], output[b * units + n], p->act_min, p->act_max);
                sum += g * ((int32_t)input[b * depth + d] + p->input_offset);
            }
            mf_sgd_s8(&weights[n * depth + d], &residual[n * depth + d], sum, mult, shift);
        }
    }
}
