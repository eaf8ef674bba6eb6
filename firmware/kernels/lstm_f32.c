/* Float32 LSTM step (see lstm_f32.h). */
#include "lstm_f32.h"

#include "mf_matvec_f32.h"

void mf_lstm_f32(const mf_lstm_f32_params *params, const float *x, const float *h, const float *c, const float *kernel,
                 const float *recurrent, const float *bias, float *h_out, float *c_out, float *scratch)
{
    MF_PARAMS(mf_lstm_f32_params, p, params);
    const int32_t n = p->hidden, width = 4 * p->hidden;
    for (int32_t j = 0; j < width; ++j) {
        scratch[j] = mf_ld_f32(&bias[j]);
    }
    mf_vec_mat_f32(x, kernel, p->input_dim, width, width, scratch, 1);
    mf_vec_mat_f32(h, recurrent, n, width, width, scratch, 1); /* h is read in full before h_out is written */
    for (int32_t j = 0; j < n; ++j) {
        const float i_gate = mf_sigmoid_f32(scratch[j]);
        const float f_gate = mf_sigmoid_f32(scratch[n + j]);
        const float cand = tanhf(scratch[2 * n + j]);
        const float o_gate = mf_sigmoid_f32(scratch[3 * n + j]);
        const float c_new = f_gate * c[j] + i_gate * cand;
        c_out[j] = c_new;
        h_out[j] = o_gate * tanhf(c_new);
    }
}
