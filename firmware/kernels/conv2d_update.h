/* Backward of the int8 2-D convolution (1x1 pointwise included): the filter gradient applied at
 * once, in place, as a QAS-scaled SGD step (mf_train.h): for each updated output channel co,
 * the master copy w[co][ky][kx][ci] + r[..] / 2^16 (int8 weight, int16 residual) less m[co] * sum over
 * output pixels of dz[oy][ox][co] * (x[iy][ix][ci] + input_offset), taps in the padding adding nothing. No gradient buffer: each weight's sum is
 * taken and applied in turn. Bit-exact with toolchain/ops/conv2d_update.py. */
#ifndef MF_CONV2D_UPDATE_H
#define MF_CONV2D_UPDATE_H

#include <stdint.h>

#include "mf_train.h"

typedef struct {
    mf_window win;
    int32_t in_c, out_c;
    int32_t input_offset;        /* -input zero point */
    int32_t n_channels;          /* output channels updated (listed in channels) */
} mf_conv2d_update_params;

void mf_conv2d_update_s8(const mf_conv2d_update_params *p, const int8_t *grad_out, const int8_t *output,
                         const int8_t *input, const int32_t *step_mult, const int32_t *step_shift,
                         const int16_t *channels, int8_t *filter,
                         int16_t *residual);

#endif
