/* Last-conv update through the pool (see bconv2d_int8w_update.h). */
#include "bconv2d_int8w_update.h"

#include <math.h>

#include "mf_bits.h"
#include "mf_train.h"

void mf_bconv2d_int8w_update(const mf_bconv2d_int8w_update_params *params, const float *grad_embedding,
                             const float *output, const uint32_t *input, int8_t *filter, int16_t *residual,
                             float *offset, const float *scale, const int32_t *step_mult,
                             const int32_t *step_shift, const int16_t *channels)
{
    MF_PARAMS(mf_bconv2d_int8w_update_params, p, params);
    const int32_t words = MF_BITS_WORDS(p->in_c);
    for (int32_t j = 0; j < p->n_channels; ++j) {
        const int32_t c = mf_ld_s16(&channels[j]);
        /* the pool's gradient, the same at every position the ReLU passes, and its int8 value */
        const float gp = grad_embedding[c] * p->inv_count;
        const float v = floorf(gp * p->inv_grad_scale + 0.5f);
        int32_t q = v < -128.0f ? -128 : (v > 127.0f ? 127 : (int32_t)v);
        if (mf_ld_f32(&scale[c]) < 0.0f) {
            q = -q; /* the weight's real value is a_c * w: the QAS step carries a_c's sign */
        }
        int32_t active = 0;
        for (int32_t i = 0; i < p->positions; ++i) {
            active += output[i * p->out_c + c] > 0.0f;
        }
        const int32_t mult = mf_ld_s32(&step_mult[j]), shift = mf_ld_s32(&step_shift[j]);
        for (int32_t k = 0; k < p->in_c; ++k) {
            int32_t ones = 0; /* sum of x = +-1 over the active positions */
            for (int32_t i = 0; i < p->positions; ++i) {
                if (output[i * p->out_c + c] > 0.0f) {
                    ones += 2 * (int32_t)mf_bits_get(&input[i * words], k) - 1;
                }
            }
            mf_sgd_s8(&filter[j * p->in_c + k], &residual[j * p->in_c + k], q * ones, mult, shift);
        }
        const float t = gp * (float)active;
        offset[j] = offset[j] - p->offset_lr * t;
    }
}
