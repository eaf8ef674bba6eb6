/* Binary-input convolution with int8 weights (see bconv2d_int8w.h).
 *
 * mf_bconv2d_int8w_ref: the plain loop, one bit test per (output, tap, channel).
 * mf_bconv2d_int8w computes the same values faster: the +-1 values under one output pixel are
 * unpacked once into scratch as int16 (padding taps as pad_value), after which each output
 * channel is one contiguous dot product over KH*KW*C -- the filter's OHWI layout has the same
 * order -- two multiply-adds per instruction where the CPU has the Arm DSP extension (SMLAD).
 * Both share the float32 epilogue. */
#include "bconv2d_int8w.h"

#include <stddef.h>

#include "mf_bits.h"

#if defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#include <string.h>
#endif

/* y = scale*acc, then + offset: two roundings (the header explains why), then the ReLU. */
static float epilogue(const mf_bconv2d_int8w_params *p, int32_t acc, float scale, float offset)
{
    const float prod = scale * (float)acc;
    const float y = prod + offset;
    return (p->relu && !(y > 0.0f)) ? 0.0f : y;
}

void mf_bconv2d_int8w_ref(const mf_bconv2d_int8w_params *p, const uint32_t *input, const int8_t *filter,
                          const float *scale, const float *offset, float *output)
{
    const int32_t in_c = p->in_c;
    const int32_t words = MF_BITS_WORDS(in_c);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                int32_t acc = 0;
                for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                    const int32_t in_y = oy * p->stride_h - p->pad_h + ky;
                    for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                        const int32_t in_x = ox * p->stride_w - p->pad_w + kx;
                        const int8_t *f = filter + ((oc * p->filter_h + ky) * p->filter_w + kx) * in_c;
                        if (in_y < 0 || in_y >= p->in_h || in_x < 0 || in_x >= p->in_w) {
                            for (int32_t c = 0; c < in_c; ++c) {
                                acc += (int32_t)f[c] * p->pad_value;
                            }
                            continue;
                        }
                        const uint32_t *x = input + (in_y * p->in_w + in_x) * words;
                        for (int32_t c = 0; c < in_c; ++c) {
                            acc += mf_bits_get(x, c) ? (int32_t)f[c] : -(int32_t)f[c];
                        }
                    }
                }
                output[(oy * p->out_w + ox) * p->out_c + oc] = epilogue(p, acc, scale[oc], offset[oc]);
            }
        }
    }
}

/* Position of run index i in the window. With the Arm DSP extension, each full group of four
 * values is stored as (x0, x2, x1, x3): the lane order in which SXTB16 splits four filter
 * bytes into int16 pairs, so that SMLAD can multiply two pairs at a time. Elsewhere: i. */
#if defined(__ARM_FEATURE_SIMD32)
#define MF_WIN_POS(i, run4) ((i) < (run4) ? (((i) & ~3) | (((i) & 1) << 1) | (((i) >> 1) & 1)) : (i))
#else
#define MF_WIN_POS(i, run4) (i)
#endif

/* The +-1 (or pad_value) inputs under output pixel (oy, ox), in filter order (ky, kx, c). */
static void gather_window(const mf_bconv2d_int8w_params *p, const uint32_t *input, int32_t oy, int32_t ox,
                          int16_t *win)
{
    const int32_t in_c = p->in_c;
    const int32_t words = MF_BITS_WORDS(in_c);
    const int32_t run4 = ((int32_t)p->filter_h * p->filter_w * in_c) & ~3;
    int32_t i = 0;
    (void)run4; /* unused where MF_WIN_POS is the identity */
    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
        const int32_t in_y = oy * p->stride_h - p->pad_h + ky;
        for (int32_t kx = 0; kx < p->filter_w; ++kx) {
            const int32_t in_x = ox * p->stride_w - p->pad_w + kx;
            const int inside = in_y >= 0 && in_y < p->in_h && in_x >= 0 && in_x < p->in_w;
            const uint32_t *x = inside ? input + (in_y * p->in_w + in_x) * words : NULL;
            for (int32_t c = 0; c < in_c; ++c, ++i) {
                win[MF_WIN_POS(i, run4)] = x != NULL ? (int16_t)(2 * (int32_t)mf_bits_get(x, c) - 1) : p->pad_value;
            }
        }
    }
}

/* sum f[i] * x[i] over the run, x as laid out by gather_window. */
static int32_t dot_window(const int8_t *f, const int16_t *win, int32_t run)
{
    int32_t acc = 0;
    int32_t i = 0;
#if defined(__ARM_FEATURE_SIMD32)
    for (; i + 4 <= run; i += 4) {
        uint32_t w4, x02, x13;
        memcpy(&w4, f + i, 4); /* unaligned-safe; one LDR on Cortex-M4 */
        memcpy(&x02, win + i, 4);
        memcpy(&x13, win + i + 2, 4);
        acc = __smlad((int16x2_t)__sxtb16((int8x4_t)w4), (int16x2_t)x02, acc);
        acc = __smlad((int16x2_t)__sxtb16((int8x4_t)((w4 >> 8) | (w4 << 24))), (int16x2_t)x13, acc);
    }
#endif
    for (; i < run; ++i) {
        acc += (int32_t)f[i] * win[i];
    }
    return acc;
}

void mf_bconv2d_int8w(const mf_bconv2d_int8w_params *p, const uint32_t *input, const int8_t *filter,
                      const float *scale, const float *offset, int16_t *scratch, float *output)
{
    const int32_t run = (int32_t)p->filter_h * p->filter_w * p->in_c;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            float *out = output + (oy * p->out_w + ox) * p->out_c;
            gather_window(p, input, oy, ox, scratch);
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                out[oc] = epilogue(p, dot_window(filter + oc * run, scratch, run), scale[oc], offset[oc]);
            }
        }
    }
}
