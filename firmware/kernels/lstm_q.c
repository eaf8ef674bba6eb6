/* Fixed-point LSTM step (see lstm_q.h). */
#include "lstm_q.h"

#include "mf_matvec_q.h"

void mf_lstm_q(const mf_lstm_q_params *params, const int16_t *x, const int16_t *h, const int16_t *c,
               const int16_t *kernel, const int16_t *recurrent, const int16_t *bias, const int16_t *tanh_table,
               int16_t *h_out, int16_t *c_out, int32_t *scratch)
{
    MF_PARAMS(mf_lstm_q_params, p, params);
    const int32_t n = p->hidden, width = 4 * p->hidden;
    int32_t *g = scratch, *acc = scratch + width;
    int32_t j;
    mf_vec_mat_q(x, kernel, p->input_dim, width, acc, 0);
    for (j = 0; j < width; ++j) {
        g[j] = mf_ld_s16(&bias[j]) + mf_rshift_round(acc[j], p->shift_x);
    }
    mf_vec_mat_q(h, recurrent, n, width, acc, 0); /* h is read in full before h_out is written */
    for (j = 0; j < width; ++j) {
        g[j] += mf_rshift_round(acc[j], p->shift_h);
    }
    for (j = 0; j < n; ++j) {
        const int32_t i_gate = mf_sigmoid_q(g[j], tanh_table);
        const int32_t f_gate = mf_sigmoid_q(g[n + j], tanh_table);
        const int32_t cand = mf_tanh_q(g[2 * n + j], tanh_table);
        const int32_t o_gate = mf_sigmoid_q(g[3 * n + j], tanh_table);
        const int16_t c_new = mf_sat16(mf_rshift_round(f_gate * (int32_t)c[j], 14) + mf_rshift_round(i_gate * cand, 16));
        c_out[j] = c_new;
        h_out[j] = mf_sat16(mf_rshift_round(o_gate * mf_tanh_q(c_new, tanh_table), 16));
    }
}
