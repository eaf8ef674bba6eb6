/* Integer vector x matrix products and the table nonlinearities of the fixed-point RNN kernels
 * (fastgrnn_q, dense_q); formats and rounding in toolchain/ops/_fixed_rnn.py, whose numpy twins
 * compute the same integers. int16 x int16 products accumulate in int32. */
#ifndef MF_MATVEC_Q_H
#define MF_MATVEC_Q_H

#include <stdint.h>

#include "mf_const.h"

/* out[j] (+)= sum_i v[i] m[i * cols + j]: m a weight matrix (MF_CONST) [rows][cols] */
static inline void mf_vec_mat_q(const int16_t *v, const int16_t *m, int32_t rows, int32_t cols, int32_t *out,
                                int accumulate)
{
    for (int32_t j = 0; j < cols; ++j) {
        int32_t acc = accumulate ? out[j] : 0;
        for (int32_t i = 0; i < rows; ++i) {
            acc += (int32_t)v[i] * mf_ld_s16(&m[i * cols + j]);
        }
        out[j] = acc;
    }
}

/* (v + 2^(s-1)) >> s, s >= 1 (arithmetic shift: gcc's on every target) */
static inline int32_t mf_rshift_round(int32_t v, int32_t s)
{
    return s > 0 ? (int32_t)((v + ((int32_t)1 << (s - 1))) >> s) : v;
}

static inline int16_t mf_sat16(int32_t v)
{
    return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

/* tanh: Q12 in (clamped to [-8, 8)), Q14 out, from a 257-entry Q14 table over [-8, 8]
 * (MF_CONST) with linear interpolation between its entries (step 1/16 = 256 units) */
static inline int32_t mf_tanh_q(int32_t x, const int16_t *table)
{
    int32_t i, f, t0;
    x = (x > 32767 ? 32767 : (x < -32768 ? -32768 : x)) + 32768;
    i = x >> 8;
    f = x & 255;
    t0 = mf_ld_s16(&table[i]);
    return t0 + (((mf_ld_s16(&table[i + 1]) - t0) * f) >> 8);
}

/* sigmoid(x) = (1 + tanh(x / 2)) / 2: Q12 in, Q14 out */
static inline int32_t mf_sigmoid_q(int32_t x, const int16_t *table)
{
    return (mf_tanh_q(x >> 1, table) + 16384) >> 1;
}

#endif
