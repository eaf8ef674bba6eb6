/* TinyTrain's Fisher potential of an int8 layer's output channels (Kwon et al. 2024), summed
 * over the support samples on the board: for each channel c, sums[c] += S*S with
 * S = sum over positions of (output[pos][c] - zero point) * grad_out[pos][c], the integer inner
 * product of the output activation and its loss gradient (exact in 32 bits: the op refuses
 * layers where it could wrap). sums saturates at INT64_MAX. The host scales it by
 * (s_y * s_g)^2 / (2N). Bit-exact with toolchain/ops/fisher_potential.py. */
#ifndef MF_FISHER_POTENTIAL_H
#define MF_FISHER_POTENTIAL_H

#include <stdint.h>

#include "mf_const.h"

typedef struct {
    int32_t positions, channels;
    int32_t output_offset;       /* minus the forward output's zero point */
} mf_fisher_potential_params;

void mf_fisher_potential_s8(const mf_fisher_potential_params *p, const int8_t *output, const int8_t *grad_out,
                            int64_t *sums);

#endif
