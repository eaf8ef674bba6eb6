/* Backward of the int8 fully connected layer: the weight gradient applied at once, in place, as a
 * QAS-scaled SGD step (mf_train.h): for each updated unit n,
 * the master copy w[n][d] + r[n][d] / 2^16 (int8 weight, int16 residual) less
 * m[n] * sum_b dz[b][n] * (x[b][d] + input_offset). No gradient buffer: each
 * weight's sum is taken and applied in turn. Bit-exact with toolchain/ops/fully_connected_update.py. */
#ifndef MF_FULLY_CONNECTED_UPDATE_H
#define MF_FULLY_CONNECTED_UPDATE_H

#include <stdint.h>

#include "mf_const.h"

typedef struct {
    int32_t batches, accum_depth, out_depth;
    int32_t input_offset;        /* -input zero point */
    int32_t act_min, act_max;    /* the forward output clamp */
    int32_t n_channels;          /* units updated (listed in channels) */
} mf_fully_connected_update_params;

void mf_fully_connected_update_s8(const mf_fully_connected_update_params *p, const int8_t *grad_out,
                                  const int8_t *output, const int8_t *input, const int32_t *step_mult,
                                  const int32_t *step_shift, const int16_t *channels, int8_t *weights,
                                  int16_t *residual);

#endif
