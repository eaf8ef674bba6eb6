/* One GRU step in float32, as Keras' GRUCell with reset_after=False (gates z, r, h):
 *     z = sigmoid(x K_z + h R_z + b_z),  r = sigmoid(x K_r + h R_r + b_r)
 *     n = tanh(x K_h + (r h) R_h + b_h),  h' = z h + (1 - z) n      (K [d][3H], R [H][3H], b [3H])
 * Sums as mf_matvec_f32.h (bit-exact with the numpy twin, toolchain/ops/gru_f32.py); expf/tanhf
 * from libm (a few ulps). h_out may be h (the state updated in place). */
#ifndef MF_GRU_F32_H
#define MF_GRU_F32_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t input_dim;
    int32_t hidden;
} mf_gru_f32_params;

/* scratch: 4 * hidden floats */
void mf_gru_f32(const mf_gru_f32_params *p, const float *x, const float *h, const float *kernel,
                const float *recurrent, const float *bias, float *h_out, float *scratch);

#endif
