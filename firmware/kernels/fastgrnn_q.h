/* One FastGRNN step in fixed point (the cell of fastgrnn_f32.h for cores without an FPU):
 *     pre = x W + h U                                int32 Q12 (x Q11, h Q12, W and U int16 with
 *     z = sigmoid(pre + b_z), c = tanh(pre + b_h)    per-matrix power-of-two scales; low-rank
 *     h' = (zeta (1 - z) + nu) c + z h               factors through a Q11 intermediate)
 * Gates, zeta and nu Q14; h' Q12, saturated to int16. sigmoid/tanh from the Q14 tanh table
 * (mf_matvec_q.h). Bit-exact with its numpy twin, toolchain/ops/fastgrnn_q.py.
 * h_out may be h (the hidden state updated in place). */
#ifndef MF_FASTGRNN_Q_H
#define MF_FASTGRNN_Q_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t input_dim;
    int32_t hidden;
    int32_t rank_w; /* 0: W is one [input_dim][hidden] matrix (w2 unused) */
    int32_t rank_u;
    int32_t shift_w1; /* x W1 (or x W) accumulator -> Q11 intermediate (or Q12 pre-activation) */
    int32_t shift_w2; /* intermediate W2 accumulator -> Q12 */
    int32_t shift_u1;
    int32_t shift_u2;
    int32_t zeta; /* sigmoid(zeta_raw), Q14 */
    int32_t nu;   /* sigmoid(nu_raw), Q14 */
} mf_fastgrnn_q_params;

/* scratch: (hidden + max(hidden, rank) + rank) int32, rank = max(rank_w, rank_u) */
void mf_fastgrnn_q(const mf_fastgrnn_q_params *p, const int16_t *x, const int16_t *h, const int16_t *w1,
                   const int16_t *w2, const int16_t *u1, const int16_t *u2, const int16_t *b_z, const int16_t *b_h,
                   const int16_t *tanh_table, int16_t *h_out, int32_t *scratch);

#endif
