/* Fixed-point GRU step (see gru_q.h). */
#include "gru_q.h"

#include "mf_matvec_q.h"

void mf_gru_q(const mf_gru_q_params *params, const int16_t *x, const int16_t *h, const int16_t *kernel,
              const int16_t *recurrent_zr, const int16_t *recurrent_h, const int16_t *bias,
              const int16_t *tanh_table, int16_t *h_out, int32_t *scratch)
{
    MF_PARAMS(mf_gru_q_params, p, params);
    const int32_t n = p->hidden, width = 3 * p->hidden;
    int32_t *g = scratch, *acc = scratch + width;
    int16_t *rh = (int16_t *)(scratch + 2 * width);
    int32_t j;
    mf_vec_mat_q(x, kernel, p->input_dim, width, acc, 0);
    for (j = 0; j < width; ++j) {
        g[j] = mf_ld_s16(&bias[j]) + mf_rshift_round(acc[j], p->shift_x);
    }
    mf_vec_mat_q(h, recurrent_zr, n, 2 * n, acc, 0);
    for (j = 0; j < n; ++j) {
        g[j] = mf_sigmoid_q(g[j] + mf_rshift_round(acc[j], p->shift_h), tanh_table); /* z, Q14 */
        rh[j] = mf_sat16(mf_rshift_round(mf_sigmoid_q(g[n + j] + mf_rshift_round(acc[n + j], p->shift_h), tanh_table)
                                         * (int32_t)h[j], 14));
    }
    mf_vec_mat_q(rh, recurrent_h, n, n, acc, 0);
    for (j = 0; j < n; ++j) {
        const int32_t z = g[j];
        const int32_t cand = mf_tanh_q(g[2 * n + j] + mf_rshift_round(acc[j], p->shift_h), tanh_table);
        h_out[j] = mf_sat16(mf_rshift_round(z * (int32_t)h[j], 14) + mf_rshift_round((16384 - z) * cand, 16));
    }
}
