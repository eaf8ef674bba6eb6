#include "dequantize.h"

void mf_dequantize(const mf_dequantize_params *params, const int8_t *input, float *output)
{
    MF_PARAMS(mf_dequantize_params, p, params);
    int32_t i;

    for (i = 0; i < p->size; ++i) {
        output[i] = p->scale * (float)(input[i] - p->zero_point);
    }
}
