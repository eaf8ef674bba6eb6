/* Binary convolution (see bconv2d.h).
 *
 * mf_bconv2d_ref: one popcount per (output pixel, channel, tap, word), padding and the unused
 * bits of the last word handled in the innermost loop. mf_bconv2d computes the same bits
 * faster: it copies the input window of one output pixel once into scratch (padding taps as 0
 * words, unused bits cleared), after which every output channel is one straight XOR/popcount
 * run over KH*KW*words with no tests (weights keep their unused bits 0 too), counted with
 * carry-save adders and few popcounts (mf_bits_differ). */
#include "bconv2d.h"

#include <stddef.h>

#include "mf_bits.h"

static void clear_words(uint32_t *out, int32_t n)
{
    for (int32_t i = 0; i < n; ++i) {
        out[i] = 0u;
    }
}

void mf_bconv2d_ref(const mf_bconv2d_params *params, const uint32_t *input, const uint32_t *filter,
                    const int32_t *threshold, const uint8_t *flip, uint32_t *output)
{
    MF_PARAMS(mf_bconv2d_params, p, params);
    const int32_t words = MF_BITS_WORDS(p->in_c);
    const int32_t out_words = MF_BITS_WORDS(p->out_c);
    const uint32_t last_mask = mf_bits_last_mask(p->in_c);
    const int32_t terms = (int32_t)p->in_c * p->filter_h * p->filter_w;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            uint32_t *out = output + (oy * p->out_w + ox) * out_words;
            clear_words(out, out_words);
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                int32_t differ = 0; /* taps where input and weight have opposite signs */
                for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                    const int32_t in_y = oy * p->stride_h - p->pad_h + ky;
                    for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                        const int32_t in_x = ox * p->stride_w - p->pad_w + kx;
                        const int inside = in_y >= 0 && in_y < p->in_h && in_x >= 0 && in_x < p->in_w;
                        const uint32_t *x = inside ? input + (in_y * p->in_w + in_x) * words : NULL;
                        const uint32_t *f = filter + ((oc * p->filter_h + ky) * p->filter_w + kx) * words;
                        for (int32_t w = 0; w < words; ++w) {
                            const uint32_t xv = x != NULL ? x[w] : 0u; /* padding is -1: bit 0 */
                            const uint32_t mask = w == words - 1 ? last_mask : 0xFFFFFFFFu;
                            differ += (int32_t)MF_POPCOUNT32((xv ^ mf_ld_u32(&f[w])) & mask);
                        }
                    }
                }
                const int32_t dot = terms - 2 * differ;
                out[oc >> 5] |= mf_bits_threshold(dot, mf_ld_s32(&threshold[oc]), mf_ld_u8(&flip[oc])) << (oc & 31);
            }
        }
    }
}

/* Copy the input window under output pixel (oy, ox) into win: KH*KW*words, padding as 0. */
static void gather_window(const mf_bconv2d_params *p, const uint32_t *input, int32_t oy, int32_t ox,
                          int32_t words, uint32_t last_mask, uint32_t *win)
{
    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
        const int32_t in_y = oy * p->stride_h - p->pad_h + ky;
        for (int32_t kx = 0; kx < p->filter_w; ++kx) {
            const int32_t in_x = ox * p->stride_w - p->pad_w + kx;
            if (in_y < 0 || in_y >= p->in_h || in_x < 0 || in_x >= p->in_w) {
                clear_words(win, words);
            } else {
                const uint32_t *x = input + (in_y * p->in_w + in_x) * words;
                for (int32_t w = 0; w < words; ++w) {
                    win[w] = x[w];
                }
                win[words - 1] &= last_mask;
            }
            win += words;
        }
    }
}

void mf_bconv2d(const mf_bconv2d_params *params, const uint32_t *input, const uint32_t *filter,
                const int32_t *threshold, const uint8_t *flip, uint32_t *scratch, uint32_t *output)
{
    MF_PARAMS(mf_bconv2d_params, p, params);
    const int32_t words = MF_BITS_WORDS(p->in_c);
    const int32_t out_words = MF_BITS_WORDS(p->out_c);
    const int32_t run = (int32_t)p->filter_h * p->filter_w * words;
    const int32_t terms = (int32_t)p->in_c * p->filter_h * p->filter_w;
    const uint32_t last_mask = mf_bits_last_mask(p->in_c);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            uint32_t *out = output + (oy * p->out_w + ox) * out_words;
            gather_window(p, input, oy, ox, words, last_mask, scratch);
            clear_words(out, out_words);
            const uint32_t *f = filter;
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                const int32_t differ = mf_bits_differ(scratch, f, run);
                f += run;
                out[oc >> 5] |= mf_bits_threshold(terms - 2 * differ, mf_ld_s32(&threshold[oc]), mf_ld_u8(&flip[oc])) << (oc & 31);
            }
        }
    }
}
