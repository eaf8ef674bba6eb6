/* Depthwise int8 convolution, depth multiplier 1, with the DSP extension (see
 * depthwise_conv2d_dsp.h for what the generator prepares).
 *
 * Per output pixel the address of every tap is found once (a padding tap points at a row of zero
 * points, so every pixel runs the same loop and the folded bias stays exact); then per four
 * channels and tap: one load of four inputs, one of four weights, SXTB16 splits each into even and
 * odd channels and SMLABB/SMLATT accumulate the four channels (10 instructions per 4 MACs). */
#include "depthwise_conv2d_dsp.h"

#if defined(__ARM_FEATURE_DSP)
#include "mf_dsp.h"
#include "mf_requant.h"

/* Four channels of one tap into a0..a3. */
#define DW_TAP(x, w)                                                              \
    do {                                                                          \
        const int16x2_t xe_ = __sxtb16((int8x4_t)(x)), xo_ = mf_sxtb16_ror8(x);   \
        const int16x2_t we_ = __sxtb16((int8x4_t)(w)), wo_ = mf_sxtb16_ror8(w);   \
        a0 = __smlabb(we_, xe_, a0);                                              \
        a2 = __smlatt(we_, xe_, a2);                                              \
        a1 = __smlabb(wo_, xo_, a1);                                              \
        a3 = __smlatt(wo_, xo_, a3);                                              \
    } while (0)

/* One tap of four channels: its input address, four inputs, four weights, SXTB16 into even and odd
 * channels, SMLABB/SMLATT (11 instructions for 4 MACs). */
#define DW_TAP_ASM                                     \
    "ldr %[x], [%[tp]], #4\n\t"                        \
    "ldr %[x], [%[x], %[c]]\n\t"                       \
    "ldr %[wv], [%[w]], #4\n\t"                        \
    "sxtb16 %[t], %[x]\n\t"                            \
    "sxtb16 %[x], %[x], ror #8\n\t"                    \
    "sxtb16 %[u], %[wv]\n\t"                           \
    "sxtb16 %[wv], %[wv], ror #8\n\t"                  \
    "smlabb %[a0], %[u], %[t], %[a0]\n\t"              \
    "smlatt %[a2], %[u], %[t], %[a2]\n\t"              \
    "smlabb %[a1], %[wv], %[x], %[a1]\n\t"             \
    "smlatt %[a3], %[wv], %[x], %[a3]\n\t"

#define DW_OPERANDS                                                                                         \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [tp] "+r"(tp), [w] "+r"(w), [x] "=&r"(x), \
      [wv] "=&r"(wv), [t] "=&r"(t), [u] "=&r"(u)                                                          \
    : [c] "r"(c)                                                                                            \
    : "memory"

/* All taps of four channels (from channel c) into *p0..*p3. Assembly: GCC 12 spills the unrolled
 * C to the stack. A 3x3 filter unrolled, others three taps a pass. */
static inline void dw_taps(const int8_t *const *tp, const int8_t *w, int32_t c, int32_t taps, int32_t *p0,
                           int32_t *p1, int32_t *p2, int32_t *p3)
{
    int32_t a0 = *p0, a1 = *p1, a2 = *p2, a3 = *p3;
    uint32_t x, wv, t, u;
    if (taps == 9) { /* 3x3, the usual filter: no loop */
        __asm__(DW_TAP_ASM DW_TAP_ASM DW_TAP_ASM DW_TAP_ASM DW_TAP_ASM DW_TAP_ASM DW_TAP_ASM DW_TAP_ASM DW_TAP_ASM
                DW_OPERANDS);
    } else {
        for (int32_t n = taps / 3; n > 0; --n) {
            __asm__(DW_TAP_ASM DW_TAP_ASM DW_TAP_ASM DW_OPERANDS);
        }
        for (int32_t n = taps % 3; n > 0; --n) {
            __asm__(DW_TAP_ASM DW_OPERANDS);
        }
    }
    *p0 = a0;
    *p1 = a1;
    *p2 = a2;
    *p3 = a3;
}

/* The last in_c % 4 channels of one pixel, reading only their bytes (apart, so that the compiler
 * keeps the main loop's four outputs unrolled). */
static __attribute__((noinline)) void tail_group(const mf_depthwise_conv2d_params *p, const int8_t *const *tap,
                                                 int32_t c, const int8_t *w, const int32_t *bias, const int32_t *rq,
                                                 int8_t *out)
{
    const int32_t n = p->in_c - c, taps = (int32_t)p->filter_h * p->filter_w;
    int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
    for (int32_t t = 0; t < taps; ++t, w += 4) {
        uint32_t x = 0;
        memcpy(&x, tap[t] + c, (size_t)n);
        DW_TAP(x, mf_load32(w));
    }
    (void)a3;
    const int32_t acc[3] = {a0, a1, a2};
    for (int32_t k = 0; k < n; ++k) {
        out[c + k] = mf_requant_folded_s8(acc[k], rq[2 * (c + k)], rq[2 * (c + k) + 1], p->act_min, p->act_max);
    }
}

void mf_depthwise_conv2d_s8_dsp(const mf_depthwise_conv2d_params *p, const int8_t *input, const int8_t *filter,
                                const int32_t *bias, const int32_t *rq, void *scratch,
                                int8_t *output)
{
    const int32_t ch = p->in_c, c4 = (ch + 3) & ~3, taps = (int32_t)p->filter_h * p->filter_w;
    const int32_t fh = p->filter_h, fw = p->filter_w, dw = p->dilation_w, in_h = p->in_h, in_w = p->in_w;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int full = lo == INT8_MIN && hi == INT8_MAX; /* the clamp is int8's own: one SSAT */
    const int8_t **tap = (const int8_t **)scratch;
    int8_t *zp = (int8_t *)(tap + taps);
    memset(zp, (int8_t)-p->input_offset, (size_t)c4);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int8_t **tp = tap;
            for (int32_t ky = 0; ky < fh; ++ky) {
                const int32_t in_y = oy * p->stride_h - p->pad_h + ky * p->dilation_h;
                if ((uint32_t)in_y >= (uint32_t)in_h) { /* a padding row */
                    for (int32_t kx = 0; kx < fw; ++kx) {
                        *tp++ = zp;
                    }
                    continue;
                }
                const int8_t *row = input + in_y * in_w * ch;
                int32_t in_x = ox * p->stride_w - p->pad_w;
                for (int32_t kx = 0; kx < fw; ++kx, in_x += dw) {
                    *tp++ = (uint32_t)in_x < (uint32_t)in_w ? row + in_x * ch : zp;
                }
            }
            int8_t *restrict out = output + (oy * p->out_w + ox) * ch; /* stores alias nothing read here */
            const int8_t *w = filter;
            int32_t c = 0;
            for (; c + 4 <= ch; c += 4, w += 4 * taps) {
                int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
                dw_taps(tap, w, c, taps, &a0, &a1, &a2, &a3);
                const int32_t *restrict q = rq + 2 * c;
                if (full) {
                    out[c] = mf_requant_folded_full(a0, q[0], q[1], mf_requant_folded_shift(q[1]));
                    out[c + 1] = mf_requant_folded_full(a1, q[2], q[3], mf_requant_folded_shift(q[3]));
                    out[c + 2] = mf_requant_folded_full(a2, q[4], q[5], mf_requant_folded_shift(q[5]));
                    out[c + 3] = mf_requant_folded_full(a3, q[6], q[7], mf_requant_folded_shift(q[7]));
                } else {
                    out[c] = mf_requant_folded_s8(a0, q[0], q[1], lo, hi);
                    out[c + 1] = mf_requant_folded_s8(a1, q[2], q[3], lo, hi);
                    out[c + 2] = mf_requant_folded_s8(a2, q[4], q[5], lo, hi);
                    out[c + 3] = mf_requant_folded_s8(a3, q[6], q[7], lo, hi);
                }
            }
            if (c < ch) {
                tail_group(p, tap, c, w, bias, rq, out);
            }
        }
    }
}
#else
typedef int mf_depthwise_conv2d_dsp_unavailable; /* no DSP extension: the generator never calls this kernel */
#endif
