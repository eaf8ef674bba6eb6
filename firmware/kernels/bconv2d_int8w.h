/* Last convolution of a binary network: bit-packed +-1 input, int8 per-channel weights, exact
 * int32 accumulator acc = sum w * (+-1), then folded BatchNorm (+ ReLU) in float32:
 * y = max(0, scale[c] * (float)acc + offset[c]) -- one multiply, then one add (build with
 * -ffp-contract=off, the default for -std=c99, so they are not fused into an FMA; the numpy
 * reference rounds the same two steps). Layouts: input HW x ceil(in_c/32) words (mf_bits.h),
 * filter OHWI int8, output HWC float. Batch 1. Padding taps are pad_value (-1 or 0). */
#ifndef MF_BCONV2D_INT8W_H
#define MF_BCONV2D_INT8W_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int16_t in_h, in_w, in_c;    /* in_c channels (bits) */
    int16_t out_h, out_w, out_c;
    int16_t filter_h, filter_w;
    int16_t stride_h, stride_w;
    int16_t pad_h, pad_w;        /* leading padding (top, left) */
    int8_t pad_value;            /* value of padding taps: -1 (binary padding) or 0 */
    uint8_t relu;                /* 1: max(0, y) */
} mf_bconv2d_int8w_params;

/* scratch: filter_h * filter_w * in_c int16 (the +-1 input window of one output pixel). */
void mf_bconv2d_int8w(const mf_bconv2d_int8w_params *p, const uint32_t *input, const int8_t *filter,
                      const float *scale, const float *offset, int16_t *scratch, float *output);

/* The same result from the plain reference loop (slow; for tests and as documentation). */
void mf_bconv2d_int8w_ref(const mf_bconv2d_int8w_params *p, const uint32_t *input, const int8_t *filter,
                          const float *scale, const float *offset, float *output);

#endif
