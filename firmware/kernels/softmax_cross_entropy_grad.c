/* Softmax cross-entropy gradient: the first step of every backward pass. */
#include "softmax_cross_entropy_grad.h"

#include "mf_quant.h"

void mf_softmax_cross_entropy_grad_s8(const mf_softmax_cross_entropy_grad_params *params, const int8_t *probs,
                                      const int32_t *label, int8_t *grad)
{
    MF_PARAMS(mf_softmax_cross_entropy_grad_params, p, params);
    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t k = 0; k < p->classes; ++k) {
            const int32_t i = b * p->classes + k;
            const int32_t g = (((int32_t)probs[i] + 129) >> 1) - (k == label[b] ? 128 : 0);
            grad[i] = (int8_t)mf_clamp(g, -128, 127);
        }
    }
}
