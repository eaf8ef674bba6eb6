/* One GRU step in fixed point (the cell of gru_f32.h for cores without an FPU; reset before the
 * candidate's product, as Keras' reset_after=False; gates z, r, h):
 *     g = b + (x K >> shift_x);  g_zr += h R_zr >> shift_h      int32 Q12 (x Q11, h Q12, K and R
 *     z = sigmoid(g_z), r = sigmoid(g_r)                         int16, R split into its z, r
 *     g_h += (r h) R_h >> shift_h                                columns and its h columns)
 *     h' = z h + (1 - z) tanh(g_h)
 * Gates Q14 from the Q14 tanh table (mf_matvec_q.h); r h and h' Q12, saturated to int16.
 * Bit-exact with its numpy twin, toolchain/ops/gru_q.py. h_out may be h (updated in place). */
#ifndef MF_GRU_Q_H
#define MF_GRU_Q_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t input_dim;
    int32_t hidden;
    int32_t shift_x; /* x K accumulator -> Q12 */
    int32_t shift_h; /* h R_zr and (r h) R_h accumulators -> Q12 */
} mf_gru_q_params;

/* scratch: 6 * hidden int32, then hidden int16 */
void mf_gru_q(const mf_gru_q_params *p, const int16_t *x, const int16_t *h, const int16_t *kernel,
              const int16_t *recurrent_zr, const int16_t *recurrent_h, const int16_t *bias,
              const int16_t *tanh_table, int16_t *h_out, int32_t *scratch);

#endif
