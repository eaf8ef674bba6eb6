#include "softmax.h"

#include "mf_fixedpoint.h"
#include "mf_quant.h"

enum { SCALED_DIFF_INTEGER_BITS = 5, ACCUMULATION_INTEGER_BITS = 12 };

/* exp((x - max) * beta * scale) in Q0.31 for a difference diff >= diff_min. */
static int32_t exp_of_diff(const mf_softmax_params *p, int32_t diff)
{
    const int32_t scaled = mf_sat_rounding_doubling_high_mul(
        (int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier); /* Q5.26 */
    return mf_fp_exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS);
}

void mf_softmax(const mf_softmax_params *params, const int8_t *input, int8_t *output)
{
    MF_PARAMS(mf_softmax_params, p, params);
    int32_t row, c;

    for (row = 0; row < p->outer; ++row) {
        const int8_t *in = input + row * p->depth;
        int8_t *out = output + row * p->depth;
        int32_t max = INT8_MIN;
        int32_t sum_of_exps = 0; /* Q12.19 */
        int32_t reciprocal;
        int bits_over_unit, exponent;

        for (c = 0; c < p->depth; ++c) {
            max = in[c] > max ? in[c] : max;
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = in[c] - max;
            if (diff >= p->diff_min) {
                sum_of_exps = mf_fp_add(sum_of_exps, mf_fp_mul_by_pot(exp_of_diff(p, diff), -ACCUMULATION_INTEGER_BITS));
            }
        }
        reciprocal = mf_fp_get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS, &bits_over_unit);
        exponent = bits_over_unit + 31 - 8;
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = in[c] - max;
            int32_t q = INT8_MIN;
            if (diff >= p->diff_min) {
                const int32_t prob = mf_rounding_divide_by_pot(
                    mf_sat_rounding_doubling_high_mul(reciprocal, exp_of_diff(p, diff)), exponent);
                q = mf_clamp(prob + INT8_MIN, INT8_MIN, INT8_MAX);
            }
            out[c] = (int8_t)q;
        }
    }
}
