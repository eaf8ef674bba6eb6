/* The backward's stand-in for an int8 layer output, from its activation_mask bits: act_min + 1
 * where the bit is set (inside the clamp), act_min where not, so the backward kernels' clamp test
 * reads as on the real output. Bit-exact with toolchain/ops/activation_unmask.py. */
#ifndef MF_ACTIVATION_UNMASK_H
#define MF_ACTIVATION_UNMASK_H

#include <stdint.h>

#include "mf_const.h"

typedef struct {
    int32_t elements;
    int32_t act_min;             /* the forward output clamp's lower bound */
} mf_activation_unmask_params;

void mf_activation_unmask_s8(const mf_activation_unmask_params *p, const uint8_t *mask, int8_t *output);

#endif
