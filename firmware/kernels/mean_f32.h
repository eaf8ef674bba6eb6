/* Global average pool of a float32 [1, H, W, C] tensor into [C]: for each channel the H*W
 * positions are summed in row-major order, one float32 addition at a time, and the sum is
 * multiplied by the float32 inv_count = 1/(H*W) (the numpy reference mirrors this order). */
#ifndef MF_MEAN_F32_H
#define MF_MEAN_F32_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t positions;           /* H * W */
    int32_t channels;
    float inv_count;             /* float32(1 / positions) */
} mf_mean_f32_params;

void mf_mean_f32(const mf_mean_f32_params *p, const float *input, float *output);

#endif
