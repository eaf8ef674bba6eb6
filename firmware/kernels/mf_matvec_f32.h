/* Float32 vector x matrix products for the recurrent cells (fastgrnn_f32, lstm_f32, gru_f32).
 * Matrices are row-major [rows][cols] as Keras stores them; rows are added in order, one float32
 * multiply-add at a time (no FMA: the build has -ffp-contract=off), so the numpy twins get the same
 * sums bit for bit. */
#ifndef MF_MATVEC_F32_H
#define MF_MATVEC_F32_H

#include <math.h>
#include <stdint.h>

#include "mf_const.h"

/* out[j] (+)= sum_i v[i] m[i * stride + j] for j < cols: a column block of a wider matrix
 * (stride = its full width). m is a weight matrix (MF_CONST), v and out are in RAM. */
static inline void mf_vec_mat_f32(const float *v, const float *m, int32_t rows, int32_t cols, int32_t stride,
                                  float *out, int accumulate)
{
    for (int32_t j = 0; j < cols; ++j) {
        float acc = accumulate ? out[j] : 0.0f;
        for (int32_t i = 0; i < rows; ++i) {
            acc += v[i] * mf_ld_f32(&m[i * stride + j]);
        }
        out[j] = acc;
    }
}

static inline float mf_sigmoid_f32(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

#endif
