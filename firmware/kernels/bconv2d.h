/* Binary convolution: bit-packed +-1 input and weights, integer dot product
 * dot = C*KH*KW - 2*popcount(x XOR w), then a per-channel integer threshold (folded BatchNorm +
 * ReLU + sign) into bit-packed output channels. Layouts (mf_bits.h): input HW x ceil(in_c/32)
 * words, filter O x KH x KW x ceil(in_c/32) words, output HW x ceil(out_c/32) words. Batch 1.
 * Padding taps are -1 (bit 0) in every channel, so every output sums C*KH*KW terms. */
#ifndef MF_BCONV2D_H
#define MF_BCONV2D_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int16_t in_h, in_w, in_c;    /* in_c channels (bits) */
    int16_t out_h, out_w, out_c; /* out_c channels (bits) */
    int16_t filter_h, filter_w;
    int16_t stride_h, stride_w;
    int16_t pad_h, pad_w;        /* leading padding (top, left) */
} mf_bconv2d_params;

/* scratch: filter_h * filter_w * ceil(in_c/32) words (the input window of one output pixel). */
void mf_bconv2d(const mf_bconv2d_params *p, const uint32_t *input, const uint32_t *filter,
                const int32_t *threshold, const uint8_t *flip, uint32_t *scratch, uint32_t *output);

/* The same result from the plain reference loop (slow; for tests and as documentation). */
void mf_bconv2d_ref(const mf_bconv2d_params *p, const uint32_t *input, const uint32_t *filter,
                    const int32_t *threshold, const uint8_t *flip, uint32_t *output);

#endif
