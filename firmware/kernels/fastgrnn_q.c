/* Fixed-point FastGRNN step (see fastgrnn_q.h). */
#include "fastgrnn_q.h"

#include "mf_matvec_q.h"

/* pre (+)= v M in Q12, M = M1 M2 through a Q11 intermediate when rank > 0 */
static void project(const int16_t *v, const int16_t *m1, const int16_t *m2, int32_t rows, int32_t rank,
                    int32_t cols, int32_t shift1, int32_t shift2, int32_t *pre, int32_t *acc, int16_t *tmp,
                    int accumulate)
{
    int32_t j;
    if (rank > 0) {
        mf_vec_mat_q(v, m1, rows, rank, acc, 0);
        for (j = 0; j < rank; ++j) {
            tmp[j] = mf_sat16(mf_rshift_round(acc[j], shift1));
        }
        mf_vec_mat_q(tmp, m2, rank, cols, acc, 0);
        shift1 = shift2;
    } else {
        mf_vec_mat_q(v, m1, rows, cols, acc, 0);
    }
    for (j = 0; j < cols; ++j) {
        const int32_t part = mf_rshift_round(acc[j], shift1);
        pre[j] = accumulate ? pre[j] + part : part;
    }
}

void mf_fastgrnn_q(const mf_fastgrnn_q_params *params, const int16_t *x, const int16_t *h, const int16_t *w1,
                   const int16_t *w2, const int16_t *u1, const int16_t *u2, const int16_t *b_z, const int16_t *b_h,
                   const int16_t *tanh_table, int16_t *h_out, int32_t *scratch)
{
    MF_PARAMS(mf_fastgrnn_q_params, p, params);
    const int32_t n = p->hidden;
    int32_t *pre = scratch;
    const int32_t rank = p->rank_w > p->rank_u ? p->rank_w : p->rank_u;
    int32_t *acc = scratch + n; /* max(n, rank) accumulators, then the low-rank intermediate */
    int16_t *tmp = (int16_t *)(acc + (n > rank ? n : rank));
    int32_t j;
    project(x, w1, w2, p->input_dim, p->rank_w, n, p->shift_w1, p->shift_w2, pre, acc, tmp, 0);
    project(h, u1, u2, n, p->rank_u, n, p->shift_u1, p->shift_u2, pre, acc, tmp, 1);
    for (j = 0; j < n; ++j) {
        const int32_t z = mf_sigmoid_q(pre[j] + mf_ld_s16(&b_z[j]), tanh_table);
        const int32_t c = mf_tanh_q(pre[j] + mf_ld_s16(&b_h[j]), tanh_table);
        const int32_t coef = mf_rshift_round(p->zeta * (16384 - z), 14) + p->nu;
        h_out[j] = mf_sat16(mf_rshift_round(coef * c, 16) + mf_rshift_round(z * (int32_t)h[j], 14));
    }
}
