/* int8 output -> one bit per element: inside the forward clamp or not. */
#include "activation_mask.h"

void mf_activation_mask_s8(const mf_activation_mask_params *params, const int8_t *output, uint8_t *mask)
{
    MF_PARAMS(mf_activation_mask_params, p, params);
    uint8_t byte = 0;
    int32_t i = 0;
    for (; i < p->elements; ++i) {
        if (output[i] > p->act_min && output[i] < p->act_max) {
            byte |= (uint8_t)(1u << (i & 7));
        }
        if ((i & 7) == 7) {
            mask[i >> 3] = byte;
            byte = 0;
        }
    }
    if (i & 7) {
        mask[i >> 3] = byte;  /* the last, partial byte (its high bits 0) */
    }
}
