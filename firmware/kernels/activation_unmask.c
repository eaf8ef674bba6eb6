/* Bits of activation_mask -> an int8 output stand-in for the backward. */
#include "activation_unmask.h"

#include "mf_train.h"

void mf_activation_unmask_s8(const mf_activation_unmask_params *params, const uint8_t *mask, int8_t *output)
{
    MF_PARAMS(mf_activation_unmask_params, p, params);
    const int8_t outside = (int8_t)p->act_min, inside = (int8_t)(p->act_min + 1);
    for (int32_t i = 0; i < p->elements; ++i) {
        output[i] = mf_clamp_bit(mask, i) ? inside : outside;
    }
}
