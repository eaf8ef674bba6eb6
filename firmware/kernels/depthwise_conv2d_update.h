/* Backward of the int8 depthwise 2-D convolution: the filter gradient applied at once, in place,
 * as a QAS-scaled SGD step (mf_train.h): for each updated output channel o (input channel o / M),
 * the master copy w[ky][kx][o] + r[..] / 2^16 (int8 weight, int16 residual) less m[o] * sum over output
 * pixels of dz[oy][ox][o] * (x[iy][ix][o/M] + input_offset). Bit-exact with toolchain/ops/depthwise_conv2d_update.py. */
#ifndef MF_DEPTHWISE_CONV2D_UPDATE_H
#define MF_DEPTHWISE_CONV2D_UPDATE_H

#include <stdint.h>

#include "mf_train.h"

typedef struct {
    mf_window win;
    int32_t in_c, depth_multiplier;
    int32_t input_offset;        /* -input zero point */
    int32_t n_channels;          /* output channels updated (listed in channels) */
} mf_depthwise_conv2d_update_params;

void mf_depthwise_conv2d_update_s8(const mf_depthwise_conv2d_update_params *p, const int8_t *grad_out,
                                   const int8_t *output, const int8_t *input, const int32_t *step_mult,
                                   const int32_t *step_shift, const int16_t *channels, int8_t *filter,
                                   int16_t *residual);

#endif
