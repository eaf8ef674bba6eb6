/* One LSTM step in float32, as Keras' LSTMCell (gates i, f, c, o; sigmoid recurrent activation):
 *     g = x K + h R + b                                  (K [d][4H], R [H][4H], b [4H])
 *     c' = sigmoid(g_f) c + sigmoid(g_i) tanh(g_c),   h' = sigmoid(g_o) tanh(c')
 * Sums as mf_matvec_f32.h (bit-exact with the numpy twin, toolchain/ops/lstm_f32.py); expf/tanhf
 * from libm (a few ulps). h_out/c_out may be h/c (the states updated in place). */
#ifndef MF_LSTM_F32_H
#define MF_LSTM_F32_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t input_dim;
    int32_t hidden;
} mf_lstm_f32_params;

/* scratch: 4 * hidden floats */
void mf_lstm_f32(const mf_lstm_f32_params *p, const float *x, const float *h, const float *c, const float *kernel,
                 const float *recurrent, const float *bias, float *h_out, float *c_out, float *scratch);

#endif
