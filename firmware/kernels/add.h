/* Element-wise add of two int8 tensors of one shape, as TFLM's ADD (no broadcasting). */
#ifndef MF_ADD_H
#define MF_ADD_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t size;                       /* elements */
    int32_t in1_offset, in2_offset;     /* minus the input zero points */
    int32_t left_shift;                 /* 20: headroom before rescaling */
    int32_t in1_multiplier, in1_shift;  /* in_scale / (2 * max input scale), shift <= 0 */
    int32_t in2_multiplier, in2_shift;
    int32_t out_multiplier, out_shift;  /* 2 * max input scale / (2^left_shift * out_scale) */
    int32_t out_offset;                 /* output zero point */
    int32_t act_min, act_max;           /* fused activation clamp */
} mf_add_params;

void mf_add(const mf_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output);

#endif
