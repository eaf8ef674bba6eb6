/* First layer of a binary network: int8 convolution whose int32 accumulator goes through a
 * per-channel integer threshold (folded BatchNorm + ReLU + sign) into bit-packed output
 * channels. Layouts: input HWC int8, filter OHWI int8, output HW x ceil(out_c/32) words
 * (see mf_bits.h). Batch 1; taps in the padding see the input zero point (contribute 0). */
#ifndef MF_CONV2D_THRESHOLD_H
#define MF_CONV2D_THRESHOLD_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int16_t in_h, in_w, in_c;
    int16_t out_h, out_w, out_c; /* out_c channels = out_c bits per output pixel */
    int16_t filter_h, filter_w;
    int16_t stride_h, stride_w;
    int16_t pad_h, pad_w;        /* leading padding (top, left) */
    int32_t input_offset;        /* -input zero point */
} mf_conv2d_threshold_params;

/* bias may be NULL. threshold/flip: out_c values; bit = flip ? acc <= thr : acc >= thr.
 * scratch: filter_h * filter_w * in_c int16 (the offset input window of one output pixel). */
void mf_conv2d_threshold(const mf_conv2d_threshold_params *p, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, const int32_t *threshold, const uint8_t *flip, int16_t *scratch,
                         uint32_t *output);

/* The same result from the plain reference loop (slow; for tests and as documentation). */
void mf_conv2d_threshold_ref(const mf_conv2d_threshold_params *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, const int32_t *threshold, const uint8_t *flip, uint32_t *output);

#endif
