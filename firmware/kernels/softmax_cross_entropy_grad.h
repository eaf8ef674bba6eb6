/* The gradient of softmax cross-entropy w.r.t. the logits from an int8 softmax output (scale 1/256,
 * zero point -128): grad[b][k] = p - [k == label[b]] at scale 1/128, exact:
 * ((p + 129) >> 1) - 128 * [k == label[b]], clamped to int8. Bit-exact with
 * toolchain/ops/softmax_cross_entropy_grad.py. */
#ifndef MF_SOFTMAX_CROSS_ENTROPY_GRAD_H
#define MF_SOFTMAX_CROSS_ENTROPY_GRAD_H

#include <stdint.h>

#include "mf_const.h"

typedef struct {
    int32_t batches, classes;
} mf_softmax_cross_entropy_grad_params;

void mf_softmax_cross_entropy_grad_s8(const mf_softmax_cross_entropy_grad_params *p, const int8_t *probs,
                                      const int32_t *label, int8_t *grad);

#endif
