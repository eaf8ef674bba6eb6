/* Float32 global average pool (see mean_f32.h). */
#include "mean_f32.h"

void mf_mean_f32(const mf_mean_f32_params *params, const float *input, float *output)
{
    MF_PARAMS(mf_mean_f32_params, p, params);
    for (int32_t c = 0; c < p->channels; ++c) {
        float sum = 0.0f;
        for (int32_t i = 0; i < p->positions; ++i) {
            sum += input[i * p->channels + c];
        }
        output[c] = sum * p->inv_count;
    }
}
