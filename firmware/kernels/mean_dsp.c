/* MEAN over H and W with SXTAB16 (see mean_dsp.h): four channels at a time, each pixel's four
 * values added into two registers of int16 lanes (even and odd channels) in two instructions;
 * the lanes are widened to int32 every 255 pixels, before 255 * 128 could overflow them. */
#include "mean_dsp.h"

#if defined(__ARM_FEATURE_DSP)
#include "mf_dsp.h"
#include "mf_requant.h"

/* x + SXTB16(y ROR 8): GCC 12 does not fold the rotate into SXTAB16. */
static inline int16x2_t sxtab16_ror8(int16x2_t x, uint32_t y)
{
    int16x2_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(x), "r"(y));
    return r;
}

/* Out of line: once per channel, and its two requantization paths would be copied five times. */
static __attribute__((noinline)) int8_t mean_output(const mf_mean_params *p, int32_t sum)
{
    const int32_t v = mf_requant(sum - p->in_zp * p->count, p->multiplier, p->shift) + p->out_zp;
    return (int8_t)(v < INT8_MIN ? INT8_MIN : (v > INT8_MAX ? INT8_MAX : v));
}

void mf_mean_hw_s8_dsp(const mf_mean_params *p, const int8_t *input, int8_t *output)
{
    const int32_t pixels = p->in_dims[1] * p->in_dims[2], ch = p->in_dims[3];
    int32_t c = 0;
    for (; c + 4 <= ch; c += 4) {
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        const int8_t *x = input + c;
        for (int32_t done = 0; done < pixels;) {
            const int32_t n = pixels - done < 255 ? pixels - done : 255;
            int16x2_t even = 0, odd = 0;
            for (int32_t i = 0; i < n; ++i, x += ch) {
                const uint32_t v = mf_load32(x);
                even = __sxtab16(even, (int8x4_t)v);
                odd = sxtab16_ror8(odd, v);
            }
            s0 += (int16_t)((uint32_t)even & 0xffffu);
            s2 += (int16_t)((uint32_t)even >> 16);
            s1 += (int16_t)((uint32_t)odd & 0xffffu);
            s3 += (int16_t)((uint32_t)odd >> 16);
            done += n;
        }
        output[c] = mean_output(p, s0);
        output[c + 1] = mean_output(p, s1);
        output[c + 2] = mean_output(p, s2);
        output[c + 3] = mean_output(p, s3);
    }
    for (; c < ch; ++c) { /* the last ch % 4 channels */
        int32_t s = 0;
        for (int32_t i = 0; i < pixels; ++i) {
            s += input[i * ch + c];
        }
        output[c] = mean_output(p, s);
    }
}
#else
typedef int mf_mean_dsp_unavailable; /* no DSP extension: the generator never calls this kernel */
#endif
