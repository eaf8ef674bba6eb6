/* Softmax over the last axis, int8 -> int8 (output scale 1/256, zero point -128), as TFLM's
 * gemmlowp fixed-point reference_ops::Softmax. */
#ifndef MF_SOFTMAX_H
#define MF_SOFTMAX_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t outer;             /* rows */
    int32_t depth;             /* row length (last axis) */
    int32_t input_multiplier;  /* beta * input_scale * 2^26 (one input step in Q5.26) */
    int32_t input_left_shift;  /*   = input_multiplier * 2^(input_left_shift - 31) */
    int32_t diff_min;          /* differences from the row max below this give 0 */
} mf_softmax_params;

void mf_softmax(const mf_softmax_params *p, const int8_t *input, int8_t *output);

#endif
