/* Fully connected layer, int8 (TFLite FULLY_CONNECTED): output[b][n] = requantize(
 * sum_d (w[n][d] + filter_offset) * (x[b][d] + input_offset) + bias[n]). Weights are
 * (out_depth x accum_depth), row-major as in TFLite. Bit-exact with TFLM's reference kernels. */
#ifndef MF_FULLY_CONNECTED_H
#define MF_FULLY_CONNECTED_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t batches;             /* input rows */
    int32_t accum_depth;         /* input values per row */
    int32_t out_depth;           /* output units */
    int32_t input_offset;        /* -input zero point */
    int32_t filter_offset;       /* -weights zero point (0 for per-channel weights) */
    int32_t output_offset;       /* output zero point */
    int32_t act_min, act_max;    /* fused activation clamp */
    uint8_t per_channel;         /* 1: mult/shift per output unit, 0: one value */
} mf_fully_connected_params;

/* bias may be NULL. mult/shift hold out_depth values if per_channel, else 1. */
void mf_fully_connected_s8(const mf_fully_connected_params *p, const int8_t *input,
                           const int8_t *weights, const int32_t *bias, const int32_t *mult,
                           const int32_t *shift, int8_t *output);

/* The same result from the plain reference loop (slow; for tests and as documentation). */
void mf_fully_connected_s8_ref(const mf_fully_connected_params *p, const int8_t *input,
                               const int8_t *weights, const int32_t *bias, const int32_t *mult,
                               const int32_t *shift, int8_t *output);

#endif
