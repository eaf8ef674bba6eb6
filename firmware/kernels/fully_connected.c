/* int8 fully connected layer, bit-exact with TFLM's reference FullyConnected(PerChannel).
 *
 * mf_fully_connected_s8_ref is the plain reference loop. mf_fully_connected_s8 computes the same
 * values for symmetric weights (filter_offset 0: always so in int8 TFLite models) as
 * sum(w*x) + input_offset*sum(w): one multiply-add per weight, and the same 32-bit result
 * (the sum is rearranged in wrapping arithmetic). */
#include "fully_connected.h"

#include <stddef.h>

#include "mf_quant.h"

static int8_t requantize(int32_t acc, const mf_fully_connected_params *p, int32_t n,
                         const int32_t *mult, const int32_t *shift)
{
    const int32_t q = p->per_channel ? n : 0;
    acc = mf_multiply_by_quantized_multiplier(acc, mf_ld_s32(&mult[q]), (int)mf_ld_s32(&shift[q]));
    acc += p->output_offset;
    return (int8_t)mf_clamp(acc, p->act_min, p->act_max);
}

void mf_fully_connected_s8_ref(const mf_fully_connected_params *params, const int8_t *input,
                               const int8_t *weights, const int32_t *bias, const int32_t *mult,
                               const int32_t *shift, int8_t *output)
{
    MF_PARAMS(mf_fully_connected_params, p, params);
    const int32_t depth = p->accum_depth;
    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t n = 0; n < p->out_depth; ++n) {
            int32_t acc = 0;
            for (int32_t d = 0; d < depth; ++d) {
                const int32_t x = input[b * depth + d];
                const int32_t w = mf_ld_s8(&weights[n * depth + d]);
                acc += (w + p->filter_offset) * (x + p->input_offset);
            }
            if (bias != NULL) {
                acc += mf_ld_s32(&bias[n]);
            }
            output[b * p->out_depth + n] = requantize(acc, p, n, mult, shift);
        }
    }
}

void mf_fully_connected_s8(const mf_fully_connected_params *params, const int8_t *input,
                           const int8_t *weights, const int32_t *bias, const int32_t *mult,
                           const int32_t *shift, int8_t *output)
{
    MF_PARAMS(mf_fully_connected_params, p, params);
    if (p->filter_offset != 0) {
        mf_fully_connected_s8_ref(params, input, weights, bias, mult, shift, output);
        return;
    }
    const int32_t depth = p->accum_depth;
    for (int32_t n = 0; n < p->out_depth; ++n) {
        const int8_t *w = weights + n * depth;
        int32_t wsum = 0;
        for (int32_t d = 0; d < depth; ++d) {
            wsum += mf_ld_s8(&w[d]);
        }
        const uint32_t base = (uint32_t)wsum * (uint32_t)p->input_offset + (uint32_t)(bias != NULL ? mf_ld_s32(&bias[n]) : 0);
        for (int32_t b = 0; b < p->batches; ++b) {
            const int8_t *x = input + b * depth;
            int32_t dot = 0;
            for (int32_t d = 0; d < depth; ++d) {
                dot += (int32_t)mf_ld_s8(&w[d]) * x[d];
            }
            output[b * p->out_depth + n] = requantize((int32_t)((uint32_t)dot + base), p, n, mult, shift);
        }
    }
}
