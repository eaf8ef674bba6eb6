/* One FastGRNN step in float32 (Kusupati et al. 2018), the cell of toolchain/train/rnn_cells.py:
 *     pre = x W + h U            (W = W1 W2, U = U1 U2 when low rank)
 *     z   = sigmoid(pre + b_z),  c = tanh(pre + b_h)
 *     h'  = (zeta (1 - z) + nu) c + z h     (zeta, nu: sigmoids of the trained scalars)
 * Matrices are row-major [rows][cols] as Keras stores them: x W sums rows in order, one float32
 * multiply-add at a time, so the numpy twin (toolchain/ops/fastgrnn_f32.py) gets the same
 * pre-activations bit for bit; sigmoid and tanh use libm's expf/tanhf, so the step matches the
 * twin within a few ulps. h_out may be h (the hidden state updated in place). */
#ifndef MF_FASTGRNN_F32_H
#define MF_FASTGRNN_F32_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t input_dim;
    int32_t hidden;
    int32_t rank_w; /* 0: W is one [input_dim][hidden] matrix (w2 unused) */
    int32_t rank_u; /* 0: U is one [hidden][hidden] matrix (u2 unused) */
    float zeta;     /* sigmoid(zeta_raw) */
    float nu;       /* sigmoid(nu_raw) */
} mf_fastgrnn_f32_params;

/* scratch: (hidden + max(rank_w, rank_u)) floats */
void mf_fastgrnn_f32(const mf_fastgrnn_f32_params *p, const float *x, const float *h, const float *w1,
                     const float *w2, const float *u1, const float *u2, const float *b_z, const float *b_h,
                     float *h_out, float *scratch);

#endif
