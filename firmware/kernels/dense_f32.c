/* Float32 dense layer (see dense_f32.h). */
#include "dense_f32.h"

#include "mf_matvec_f32.h"

void mf_dense_f32(const mf_dense_f32_params *params, const float *x, const float *w, const float *b, float *y)
{
    MF_PARAMS(mf_dense_f32_params, p, params);
    for (int32_t j = 0; j < p->outputs; ++j) {
        y[j] = mf_ld_f32(&b[j]);
    }
    mf_vec_mat_f32(x, w, p->inputs, p->outputs, p->outputs, y, 1);
}
