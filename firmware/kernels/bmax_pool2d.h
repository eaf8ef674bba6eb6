/* Max pooling of a bit-packed +-1 tensor: the max of +-1 values is the OR of their bits.
 * Layout HW x ceil(channels/32) words (mf_bits.h), batch 1. Taps in the padding never win
 * (the window is clipped to the image, as in TFLite's MAX_POOL_2D). */
#ifndef MF_BMAX_POOL2D_H
#define MF_BMAX_POOL2D_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int16_t in_h, in_w;
    int16_t out_h, out_w;
    int16_t channels;            /* bits per pixel */
    int16_t filter_h, filter_w;
    int16_t stride_h, stride_w;
    int16_t pad_h, pad_w;        /* leading padding (top, left) */
} mf_bmax_pool2d_params;

void mf_bmax_pool2d(const mf_bmax_pool2d_params *p, const uint32_t *input, uint32_t *output);

#endif
