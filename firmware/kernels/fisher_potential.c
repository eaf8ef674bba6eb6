/* TinyTrain's per-channel Fisher potential, accumulated over samples in an int64 state. */
#include "fisher_potential.h"

void mf_fisher_potential_s8(const mf_fisher_potential_params *params, const int8_t *output, const int8_t *grad_out,
                            int64_t *sums)
{
    MF_PARAMS(mf_fisher_potential_params, p, params);
    for (int32_t c = 0; c < p->channels; ++c) {
        int32_t s = 0;
        for (int32_t i = 0; i < p->positions; ++i) {
            const int32_t k = i * p->channels + c;
            s += ((int32_t)output[k] + p->output_offset) * grad_out[k];
        }
        const int64_t sq = (int64_t)s * s;
        sums[c] = sums[c] > INT64_MAX - sq ? INT64_MAX : sums[c] + sq;
    }
}
