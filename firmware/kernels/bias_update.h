/* Backward of the bias of an int8 conv2d, depthwise conv2d or fully connected layer: the bias
 * gradient applied at once, in place, as a QAS-scaled SGD step (mf_train.h): for each updated
 * channel c, bias[c] -= round(m[c] * sum over positions of dz[pos][c]). Gradient and output are
 * (positions x channels). Bit-exact with toolchain/ops/bias_update.py. */
#ifndef MF_BIAS_UPDATE_H
#define MF_BIAS_UPDATE_H

#include <stdint.h>

#include "mf_const.h"

typedef struct {
    int32_t positions, channels;
    int32_t act_min, act_max;    /* the forward output clamp */
    int32_t n_channels;          /* channels updated (listed in channels) */
} mf_bias_update_params;

void mf_bias_update_s32(const mf_bias_update_params *p, const int8_t *grad_out, const int8_t *output,
                        const int32_t *step_mult, const int32_t *step_shift, const int16_t *channels,
                        int32_t *bias);
/* The same, the forward output given as its clamp bits (activation_mask.h). */
void mf_bias_update_bits_s32(const mf_bias_update_params *p, const int8_t *grad_out, const uint8_t *mask,
                             const int32_t *step_mult, const int32_t *step_shift, const int16_t *channels,
                             int32_t *bias);

#endif
