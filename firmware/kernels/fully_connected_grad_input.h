/* Backward of the int8 fully connected layer: gradient w.r.t. its input.
 * grad_in[b][d] = sum_n W[n][d] * dz[b][n], dz the output gradient through the forward clamp;
 * per-unit weight scales as Q16 ratios (mf_train.h). Weights (units x depth) may be a flash
 * constant or a trainable RAM copy. Bit-exact with toolchain/ops/fully_connected_grad_input.py. */
#ifndef MF_FULLY_CONNECTED_GRAD_INPUT_H
#define MF_FULLY_CONNECTED_GRAD_INPUT_H

#include <stdint.h>

#include "mf_const.h"

typedef struct {
    int32_t batches, accum_depth, out_depth;
    int32_t act_min, act_max;    /* the forward output clamp */
    int32_t multiplier, shift;   /* s_g * max s_W / s_gx, Q31 */
} mf_fully_connected_grad_input_params;

void mf_fully_connected_grad_input_s8(const mf_fully_connected_grad_input_params *p, const int8_t *grad_out,
                                      const int8_t *output, const int8_t *weights, const int32_t *ratio,
                                      int8_t *grad_in);

#endif
