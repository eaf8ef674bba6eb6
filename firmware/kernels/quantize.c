#include "quantize.h"

#include "mf_quant.h"

/* std::round for |x| < 2^24 without libm: x minus its truncation is exact in float. */
static int32_t round_half_away(float x)
{
    int32_t i;
    float frac;

    /* Beyond +-65536 every int8 result is saturated anyway (also keeps the cast defined). */
    if (x > 65536.0f) {
        x = 65536.0f;
    } else if (x < -65536.0f) {
        x = -65536.0f;
    } else if (x != x) {
        x = 0.0f; /* NaN */
    }
    i = (int32_t)x;
    frac = x - (float)i;
    if (frac >= 0.5f) {
        ++i;
    } else if (frac <= -0.5f) {
        --i;
    }
    return i;
}

void mf_quantize(const mf_quantize_params *params, const float *input, int8_t *output)
{
    MF_PARAMS(mf_quantize_params, p, params);
    int32_t i;

    for (i = 0; i < p->size; ++i) {
        const int32_t q = round_half_away(input[i] / p->scale) + p->zero_point;
        output[i] = (int8_t)mf_clamp(q, INT8_MIN, INT8_MAX);
    }
}

void mf_requantize(const mf_requantize_params *params, const int8_t *input, int8_t *output)
{
    MF_PARAMS(mf_requantize_params, p, params);
    int32_t i;

    for (i = 0; i < p->size; ++i) {
        const int32_t q = mf_multiply_by_quantized_multiplier(input[i] - p->in_zp, p->multiplier, p->shift) + p->out_zp;
        output[i] = (int8_t)mf_clamp(q, INT8_MIN, INT8_MAX);
    }
}
