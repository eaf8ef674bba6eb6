/* int8 global average pooling backward: a broadcast of the masked gradient. */
#include "mean_grad_input.h"

#include "mf_train.h"

void mf_mean_grad_input_s8(const mf_mean_grad_input_params *params, const int8_t *grad_out, const int8_t *output,
                           int8_t *grad_in)
{
    MF_PARAMS(mf_mean_grad_input_params, p, params);
    for (int32_t c = 0; c < p->channels; ++c) {
        const int8_t g = (int8_t)mf_grad_masked(grad_out[c], output[c], p->act_min, p->act_max);
        for (int32_t i = 0; i < p->positions; ++i) {
            grad_in[i * p->channels + c] = g;
        }
    }
}
