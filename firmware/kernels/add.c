#include "add.h"

#include "mf_quant.h"

void mf_add(const mf_add_params *params, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    MF_PARAMS(mf_add_params, p, params);
    int32_t i;

    for (i = 0; i < p->size; ++i) {
        const int32_t x1 = (input1[i] + p->in1_offset) * ((int32_t)1 << p->left_shift);
        const int32_t x2 = (input2[i] + p->in2_offset) * ((int32_t)1 << p->left_shift);
        const int32_t sum = mf_multiply_by_quantized_multiplier(x1, p->in1_multiplier, p->in1_shift) +
                            mf_multiply_by_quantized_multiplier(x2, p->in2_multiplier, p->in2_shift);
        const int32_t out = mf_multiply_by_quantized_multiplier(sum, p->out_multiplier, p->out_shift) + p->out_offset;
        output[i] = (int8_t)mf_clamp(out, p->act_min, p->act_max);
    }
}
