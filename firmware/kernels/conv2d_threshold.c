/* int8 convolution -> integer threshold -> packed bits (see conv2d_threshold.h).
 *
 * mf_conv2d_threshold_ref: the plain loop, padding tested per tap. mf_conv2d_threshold
 * computes the same bits faster: the input window of one output pixel is copied once into
 * scratch as int16 with the input offset already added (padding taps as 0), after which each
 * output channel is one contiguous dot product over KH*KW*C in the filter's OHWI order, two
 * multiply-adds per instruction with the Arm DSP extension (mf_dot.h). This
 * layer sees few input channels (log-mel features), where per-tap overhead would dominate. */
#include "conv2d_threshold.h"

#include <stddef.h>

#include "mf_bits.h"
#include "mf_dot.h"

static void clear_words(uint32_t *out, int32_t n)
{
    for (int32_t w = 0; w < n; ++w) {
        out[w] = 0u;
    }
}

void mf_conv2d_threshold_ref(const mf_conv2d_threshold_params *params, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, const int32_t *threshold, const uint8_t *flip, uint32_t *output)
{
    MF_PARAMS(mf_conv2d_threshold_params, p, params);
    const int32_t in_c = p->in_c;
    const int32_t out_words = MF_BITS_WORDS(p->out_c);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            uint32_t *out = output + (oy * p->out_w + ox) * out_words;
            clear_words(out, out_words);
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                int32_t acc = 0;
                for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                    const int32_t in_y = oy * p->stride_h - p->pad_h + ky;
                    if (in_y < 0 || in_y >= p->in_h) {
                        continue; /* zero-point padding contributes nothing */
                    }
                    for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                        const int32_t in_x = ox * p->stride_w - p->pad_w + kx;
                        if (in_x < 0 || in_x >= p->in_w) {
                            continue;
                        }
                        const int8_t *x = input + (in_y * p->in_w + in_x) * in_c;
                        const int8_t *f = filter + ((oc * p->filter_h + ky) * p->filter_w + kx) * in_c;
                        for (int32_t c = 0; c < in_c; ++c) {
                            acc += (int32_t)mf_ld_s8(&f[c]) * ((int32_t)x[c] + p->input_offset);
                        }
                    }
                }
                if (bias != NULL) {
                    acc += mf_ld_s32(&bias[oc]);
                }
                out[oc >> 5] |= mf_bits_threshold(acc, mf_ld_s32(&threshold[oc]), mf_ld_u8(&flip[oc])) << (oc & 31);
            }
        }
    }
}

/* x + input_offset under output pixel (oy, ox), in filter order (ky, kx, c) laid out for
 * mf_dot_s8_s16; padding as 0. */
static void gather_window(const mf_conv2d_threshold_params *p, const int8_t *input, int32_t oy, int32_t ox,
                          int16_t *win)
{
    const int32_t in_c = p->in_c;
    const int32_t run4 = ((int32_t)p->filter_h * p->filter_w * in_c) & ~3;
    int32_t i = 0;
    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
        const int32_t in_y = oy * p->stride_h - p->pad_h + ky;
        for (int32_t kx = 0; kx < p->filter_w; ++kx) {
            const int32_t in_x = ox * p->stride_w - p->pad_w + kx;
            const int inside = in_y >= 0 && in_y < p->in_h && in_x >= 0 && in_x < p->in_w;
            const int8_t *x = inside ? input + (in_y * p->in_w + in_x) * in_c : NULL;
            for (int32_t c = 0; c < in_c; ++c, ++i) {
                win[MF_WIN_POS(i, run4)] = x != NULL ? (int16_t)((int32_t)x[c] + p->input_offset) : 0;
            }
        }
    }
}

void mf_conv2d_threshold(const mf_conv2d_threshold_params *params, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, const int32_t *threshold, const uint8_t *flip, int16_t *scratch,
                         uint32_t *output)
{
    MF_PARAMS(mf_conv2d_threshold_params, p, params);
    const int32_t run = (int32_t)p->filter_h * p->filter_w * p->in_c;
    const int32_t out_words = MF_BITS_WORDS(p->out_c);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            uint32_t *out = output + (oy * p->out_w + ox) * out_words;
            gather_window(p, input, oy, ox, scratch);
            clear_words(out, out_words);
            const int8_t *f = filter;
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                const int32_t acc = mf_dot_s8_s16(f, scratch, run, bias != NULL ? mf_ld_s32(&bias[oc]) : 0);
                f += run;
                out[oc >> 5] |= mf_bits_threshold(acc, mf_ld_s32(&threshold[oc]), mf_ld_u8(&flip[oc])) << (oc & 31);
            }
        }
    }
}
