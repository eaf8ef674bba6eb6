/* Fixed-point dense layer (see dense_q.h). */
#include "dense_q.h"

#include "mf_matvec_q.h"

void mf_dense_q(const mf_dense_q_params *params, const int16_t *x, const int16_t *w, const int32_t *b, int32_t *y)
{
    MF_PARAMS(mf_dense_q_params, p, params);
    for (int32_t j = 0; j < p->outputs; ++j) {
        y[j] = mf_ld_s32(&b[j]);
    }
    mf_vec_mat_q(x, w, p->inputs, p->outputs, y, 1);
}
