/* Float32 GRU step (see gru_f32.h). */
#include "gru_f32.h"

#include "mf_matvec_f32.h"

void mf_gru_f32(const mf_gru_f32_params *params, const float *x, const float *h, const float *kernel,
                const float *recurrent, const float *bias, float *h_out, float *scratch)
{
    MF_PARAMS(mf_gru_f32_params, p, params);
    const int32_t n = p->hidden, width = 3 * p->hidden;
    float *gates = scratch;      /* [3H]: z, r, candidate pre-activations */
    float *rh = scratch + width; /* [H]: r * h */
    for (int32_t j = 0; j < width; ++j) {
        gates[j] = mf_ld_f32(&bias[j]);
    }
    mf_vec_mat_f32(x, kernel, p->input_dim, width, width, gates, 1);
    mf_vec_mat_f32(h, recurrent, n, 2 * n, width, gates, 1); /* z and r columns */
    for (int32_t j = 0; j < n; ++j) {
        gates[j] = mf_sigmoid_f32(gates[j]);
        rh[j] = mf_sigmoid_f32(gates[n + j]) * h[j];
    }
    mf_vec_mat_f32(rh, recurrent + 2 * n, n, n, width, gates + 2 * n, 1);
    for (int32_t j = 0; j < n; ++j) {
        const float z = gates[j];
        h_out[j] = z * h[j] + (1.0f - z) * tanhf(gates[2 * n + j]);
    }
}
