/* Float32 FastGRNN step (see fastgrnn_f32.h). */
#include "fastgrnn_f32.h"

#include "mf_matvec_f32.h"

/* out (+)= v M, with M = M1 M2 through tmp when rank > 0 */
static void project(const float *v, const float *m1, const float *m2, int32_t rows, int32_t rank, int32_t cols,
                    float *out, float *tmp, int accumulate)
{
    if (rank > 0) {
        mf_vec_mat_f32(v, m1, rows, rank, rank, tmp, 0);
        mf_vec_mat_f32(tmp, m2, rank, cols, cols, out, accumulate);
    } else {
        mf_vec_mat_f32(v, m1, rows, cols, cols, out, accumulate);
    }
}

void mf_fastgrnn_f32(const mf_fastgrnn_f32_params *params, const float *x, const float *h, const float *w1,
                     const float *w2, const float *u1, const float *u2, const float *b_z, const float *b_h,
                     float *h_out, float *scratch)
{
    MF_PARAMS(mf_fastgrnn_f32_params, p, params);
    float *pre = scratch;
    float *tmp = scratch + p->hidden;
    project(x, w1, w2, p->input_dim, p->rank_w, p->hidden, pre, tmp, 0);
    project(h, u1, u2, p->hidden, p->rank_u, p->hidden, pre, tmp, 1);
    for (int32_t j = 0; j < p->hidden; ++j) {
        const float z = mf_sigmoid_f32(pre[j] + mf_ld_f32(&b_z[j]));
        const float c = tanhf(pre[j] + mf_ld_f32(&b_h[j]));
        h_out[j] = (p->zeta * (1.0f - z) + p->nu) * c + z * h[j]; /* h[j] read before h_out[j] is written */
    }
}
