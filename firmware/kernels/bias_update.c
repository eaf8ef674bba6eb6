/* Bias update in place, for every int8 layer kind with a bias. */
#include "bias_update.h"

#include "mf_train.h"

/* The forward output's clamp from the output itself, or (mask not NULL) from its bits. */
static void bias_update(const mf_bias_update_params *p, const int8_t *grad_out, const int8_t *output,
                        const uint8_t *mask, const int32_t *step_mult, const int32_t *step_shift,
                        const int16_t *channels, int32_t *bias)
{
    for (int32_t k = 0; k < p->n_channels; ++k) {
        const int32_t c = mf_ld_s16(&channels[k]);
        int32_t sum = 0;
        for (int32_t i = 0; i < p->positions; ++i) {
            const int32_t e = i * p->channels + c;
            if (mask) {
                sum += mf_clamp_bit(mask, e) ? grad_out[e] : 0;
            } else {
                sum += mf_grad_masked(grad_out[e], output[e], p->act_min, p->act_max);
            }
        }
        bias[c] = mf_sgd_s32(bias[c], sum, mf_ld_s32(&step_mult[c]), mf_ld_s32(&step_shift[c]));
    }
}

void mf_bias_update_s32(const mf_bias_update_params *params, const int8_t *grad_out, const int8_t *output,
                        const int32_t *step_mult, const int32_t *step_shift, const int16_t *channels,
                        int32_t *bias)
{
    MF_PARAMS(mf_bias_update_params, p, params);
    bias_update(p, grad_out, output, 0, step_mult, step_shift, channels, bias);
}

/* The forward output given as its clamp bits (activation_mask: bit i % 8 of mask[i / 8] for
 * element i); act_min/act_max unused. */
void mf_bias_update_bits_s32(const mf_bias_update_params *params, const int8_t *grad_out, const uint8_t *mask,
                             const int32_t *step_mult, const int32_t *step_shift, const int16_t *channels,
                             int32_t *bias)
{
    MF_PARAMS(mf_bias_update_params, p, params);
    bias_update(p, grad_out, 0, mask, step_mult, step_shift, channels, bias);
}
