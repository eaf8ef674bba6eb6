#include "mean.h"

#include "mf_quant.h"

void mf_mean(const mf_mean_params *params, const int8_t *input, int8_t *output)
{
    MF_PARAMS(mf_mean_params, p, params);
    const int32_t *d = p->in_dims;
    int32_t out_dims[4], span[4], o[4], r[4], i[4];
    int k;

    for (k = 0; k < 4; ++k) {
        out_dims[k] = p->reduce[k] ? 1 : d[k]; /* output index range per axis */
        span[k] = p->reduce[k] ? d[k] : 1;     /* summed range per axis */
    }
    for (o[0] = 0; o[0] < out_dims[0]; ++o[0])
    for (o[1] = 0; o[1] < out_dims[1]; ++o[1])
    for (o[2] = 0; o[2] < out_dims[2]; ++o[2])
    for (o[3] = 0; o[3] < out_dims[3]; ++o[3]) {
        int32_t sum = 0;
        int32_t result;
        for (r[0] = 0; r[0] < span[0]; ++r[0])
        for (r[1] = 0; r[1] < span[1]; ++r[1])
        for (r[2] = 0; r[2] < span[2]; ++r[2])
        for (r[3] = 0; r[3] < span[3]; ++r[3]) {
            for (k = 0; k < 4; ++k) {
                i[k] = p->reduce[k] ? r[k] : o[k];
            }
            sum += input[((i[0] * d[1] + i[1]) * d[2] + i[2]) * d[3] + i[3]];
        }
        result = mf_multiply_by_quantized_multiplier(sum - p->in_zp * p->count, p->multiplier, p->shift) + p->out_zp;
        *output++ = (int8_t)mf_clamp(result, INT8_MIN, INT8_MAX);
    }
}
