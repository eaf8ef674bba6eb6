/* One LSTM step in fixed point (the cell of lstm_f32.h for cores without an FPU; gates i, f, c, o):
 *     g = b + (x K >> shift_x) + (h R >> shift_h)        int32 Q12 (x Q11, h Q12, K and R int16
 *     c' = sigmoid(g_f) c + sigmoid(g_i) tanh(g_c)      with a power-of-two scale each, b Q12)
 *     h' = sigmoid(g_o) tanh(c')
 * Gates Q14 from the Q14 tanh table (mf_matvec_q.h); c' and h' Q12, saturated to int16 (|c| < 8).
 * Bit-exact with its numpy twin, toolchain/ops/lstm_q.py. h_out/c_out may be h/c (the states
 * updated in place). */
#ifndef MF_LSTM_Q_H
#define MF_LSTM_Q_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t input_dim;
    int32_t hidden;
    int32_t shift_x; /* x K accumulator -> Q12 */
    int32_t shift_h; /* h R accumulator -> Q12 */
} mf_lstm_q_params;

/* scratch: 8 * hidden int32 */
void mf_lstm_q(const mf_lstm_q_params *p, const int16_t *x, const int16_t *h, const int16_t *c, const int16_t *kernel,
               const int16_t *recurrent, const int16_t *bias, const int16_t *tanh_table, int16_t *h_out,
               int16_t *c_out, int32_t *scratch);

#endif
