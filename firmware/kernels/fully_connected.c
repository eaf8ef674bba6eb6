/* Reference int8 fully connected layer. When the weights are symmetric (filter_offset 0,
 * always so for int8 TFLite models) the inner product is split as
 * sum(w*x) + input_offset*sum(w), which leaves one multiply-add per weight; the result is
 * the same 32-bit value (wrapping arithmetic is associative). */
#include "fully_connected.h"

#include <stddef.h>

#include "mf_quant.h"

void mf_fully_connected_s8(const mf_fully_connected_params *p, const int8_t *input,
                           const int8_t *weights, const int32_t *bias, const int32_t *mult,
                           const int32_t *shift, int8_t *output)
{
    const int32_t depth = p->accum_depth;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * depth;
        for (int32_t n = 0; n < p->out_depth; ++n) {
            const int8_t *w = weights + n * depth;
            int32_t acc = 0;
            if (p->filter_offset == 0) {
                int32_t dot = 0, wsum = 0;
                for (int32_t d = 0; d < depth; ++d) {
                    dot += (int32_t)w[d] * x[d];
                    wsum += w[d];
                }
                /* unsigned: the C accumulator may wrap exactly as TFLM's does */
                acc = (int32_t)((uint32_t)dot + (uint32_t)wsum * (uint32_t)p->input_offset);
            } else {
                for (int32_t d = 0; d < depth; ++d) {
                    acc += ((int32_t)w[d] + p->filter_offset) * ((int32_t)x[d] + p->input_offset);
                }
            }
            if (bias != NULL) {
                acc += bias[n];
            }
            const int32_t q = p->per_channel ? n : 0;
            acc = mf_multiply_by_quantized_multiplier(acc, mult[q], (int)shift[q]);
            acc += p->output_offset;
            output[b * p->out_depth + n] = (int8_t)mf_clamp(acc, p->act_min, p->act_max);
        }
    }
}
