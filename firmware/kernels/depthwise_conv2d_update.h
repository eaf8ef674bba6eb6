/* Backward of the int8 depthwise 2-D convolution: the filter gradient applied at once, in place,
 * as a QAS-scaled SGD step (mf_train.h): for each updated output channel o (input channel o / M),
 * w[ky][kx][o] -= round(m[o] * sum over output pixels of dz[oy][ox][o] * (x[iy][ix][o/M] +
 * input_offset)). Bit-exact with toolchain/ops/depthwise_conv2d_update.py. */
#ifndef MF_DEPTHWISE_CONV2D_UPDATE_H
#define MF_DEPTHWISE_CONV2D_UPDATE_H

#include <stdint.h>

#include "mf_const.h"

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w;
    int32_t depth_multiplier;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;
    int32_t input_offset;        /* -input zero point */
    int32_t act_min, act_max;    /* the forward output clamp */
    int32_t n_channels;          /* output channels updated (listed in channels) */
} mf_depthwise_conv2d_update_params;

void mf_depthwise_conv2d_update_s8(const mf_depthwise_conv2d_update_params *p, const int8_t *grad_out,
                                   const int8_t *output, const int8_t *input, const int32_t *step_mult,
                                   const int32_t *step_shift, const int16_t *channels, int8_t *filter);

#endif
