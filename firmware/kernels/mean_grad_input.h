/* Backward of the int8 global average pooling: grad_in[p][c] = grad_out[c] where the mean's output
 * is inside its clamp, else 0, for every position p; the 1/(H*W) lies in the input gradient's
 * scale. Bit-exact with toolchain/ops/mean_grad_input.py. */
#ifndef MF_MEAN_GRAD_INPUT_H
#define MF_MEAN_GRAD_INPUT_H

#include <stdint.h>

#include "mf_const.h"

typedef struct {
    int32_t positions, channels;
    int32_t act_min, act_max;    /* the forward output clamp */
} mf_mean_grad_input_params;

void mf_mean_grad_input_s8(const mf_mean_grad_input_params *p, const int8_t *grad_out, const int8_t *output,
                           int8_t *grad_in);

#endif
