/* The forward clamp of an int8 layer's output as bits, for the backward: bit i % 8 of
 * mask[i / 8] is set where output[i] lies strictly inside (act_min, act_max), the only thing
 * the backward kernels read of the output. Bit-exact with toolchain/ops/activation_mask.py. */
#ifndef MF_ACTIVATION_MASK_H
#define MF_ACTIVATION_MASK_H

#include <stdint.h>

#include "mf_const.h"

typedef struct {
    int32_t elements;
    int32_t act_min, act_max;    /* the forward output clamp */
} mf_activation_mask_params;

void mf_activation_mask_s8(const mf_activation_mask_params *p, const int8_t *output, uint8_t *mask);

#endif
