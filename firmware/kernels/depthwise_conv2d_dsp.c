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

void mf_depthwise_conv2d_s8_dsp(const mf_depthwise_conv2d_params *p, const int8_t *input, const int8_t *filter,
                                const int32_t *bias, const int32_t *mult, const int32_t *round_hi, void *scratch,
                                int8_t *output)
{
    const int32_t ch = p->in_c, c4 = (ch + 3) & ~3, taps = (int32_t)p->filter_h * p->filter_w;
    const int32_t off = p->output_offset, lo = p->act_min, hi = p->act_max;
    const int8_t **tap = (const int8_t **)scratch;
    int8_t *zp = (int8_t *)(tap + taps);
    memset(zp, (int8_t)-p->input_offset, (size_t)c4);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            int32_t t = 0;
            for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                const int32_t in_y = oy * p->stride_h - p->pad_h + ky * p->dilation_h;
                for (int32_t kx = 0; kx < p->filter_w; ++kx, ++t) {
                    const int32_t in_x = ox * p->stride_w - p->pad_w + kx * p->dilation_w;
                    const int inside = in_y >= 0 && in_y < p->in_h && in_x >= 0 && in_x < p->in_w;
                    tap[t] = inside ? input + (in_y * p->in_w + in_x) * ch : zp;
                }
            }
            int8_t *out = output + (oy * p->out_w + ox) * ch;
            const int8_t *w = filter;
            for (int32_t c = 0; c < c4; c += 4) {
                int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
                const int32_t n = ch - c < 4 ? ch - c : 4;
                if (n == 4) {
                    for (t = 0; t < taps; ++t, w += 4) {
                        DW_TAP(mf_load32(tap[t] + c), mf_load32(w));
                    }
                } else { /* the last in_c % 4 channels: read only those bytes */
                    for (t = 0; t < taps; ++t, w += 4) {
                        uint32_t x = 0;
                        memcpy(&x, tap[t] + c, (size_t)n);
                        DW_TAP(x, mf_load32(w));
                    }
                }
                if (n == 4) {
                    out[c] = mf_requant_output(a0, mult[c], round_hi[c], off, lo, hi);
                    out[c + 1] = mf_requant_output(a1, mult[c + 1], round_hi[c + 1], off, lo, hi);
                    out[c + 2] = mf_requant_output(a2, mult[c + 2], round_hi[c + 2], off, lo, hi);
                    out[c + 3] = mf_requant_output(a3, mult[c + 3], round_hi[c + 3], off, lo, hi);
                } else {
                    const int32_t acc[3] = {a0, a1, a2};
                    for (int32_t k = 0; k < n; ++k) {
                        out[c + k] = mf_requant_output(acc[k], mult[c + k], round_hi[c + k], off, lo, hi);
                    }
                    (void)a3;
                }
            }
        }
    }
}
#else
typedef int mf_depthwise_conv2d_dsp_unavailable; /* no DSP extension: the generator never calls this kernel */
#endif
