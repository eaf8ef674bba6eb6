/* A fixed-point dense layer: y = b + x W in int32 (x, W int16; b and y int32 at the product's
 * scale, so no rescaling): the classifier of the fixed-point RNN, whose logits only need their
 * order and differences. Bit-exact with its numpy twin, toolchain/ops/dense_q.py. */
#ifndef MF_DENSE_Q_H
#define MF_DENSE_Q_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t inputs;
    int32_t outputs;
} mf_dense_q_params;

void mf_dense_q(const mf_dense_q_params *p, const int16_t *x, const int16_t *w, const int32_t *b, int32_t *y);

#endif
