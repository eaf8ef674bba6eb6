/* Bias update in place, for every int8 layer kind with a bias. */
#include "bias_update.h"

#include "mf_train.h"

void mf_bias_update_s32(const mf_bias_update_params *params, const int8_t *grad_out, const int8_t *output,
                        const int32_t *step_mult, const int32_t *step_shift, const int16_t *channels,
                        int32_t *bias)
{
    MF_PARAMS(mf_bias_update_params, p, params);
    for (int32_t k = 0; k < p->n_channels; ++k) {
        const int32_t c = mf_ld_s16(&channels[k]);
        int32_t sum = 0;
        for (int32_t i = 0; i < p->positions; ++i) {
            sum += mf_grad_masked(grad_out[i * p->channels + c], output[i * p->channels + c], p->act_min, p->act_max);
        }
        bias[c] = mf_sgd_s32(bias[c], sum, mf_ld_s32(&step_mult[c]), mf_ld_s32(&step_shift[c]));
    }
}
