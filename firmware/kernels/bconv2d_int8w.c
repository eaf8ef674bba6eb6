/* Binary-input convolution with int8 weights (see bconv2d_int8w.h).
 *
 * mf_bconv2d_int8w_ref: the plain loop, one bit test per (output, tap, channel).
 * mf_bconv2d_int8w computes the same values faster: the +-1 values under one output pixel are
 * unpacked once into scratch as int16 (padding taps as pad_value), after which each output
 * channel is one contiguous dot product over KH*KW*C -- the filter's OHWI layout has the same
 * order -- two multiply-adds per instruction where the CPU has the Arm DSP extension (mf_dot.h).
 * Both share the float32 epilogue. */
#include "bconv2d_int8w.h"

#include <stddef.h>

#include "mf_bits.h"
#include "mf_dot.h"

/* y = scale*acc, then + offset: two roundings (the header explains why), then the ReLU. */
static float epilogue(const mf_bconv2d_int8w_params *p, int32_t acc, float scale, float offset)
{
    const float prod = scale * (float)acc;
    const float y = prod + offset;
    return (p->relu && !(y > 0.0f)) ? 0.0f : y;
}

void mf_bconv2d_int8w_ref(const mf_bconv2d_int8w_params *params, const uint32_t *input, const int8_t *filter,
                          const float *scale, const float *offset, float *output)
{
    MF_PARAMS(mf_bconv2d_int8w_params, p, params);
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
                                acc += (int32_t)mf_ld_s8(&f[c]) * p->pad_value;
                            }
                            continue;
                        }
                        const uint32_t *x = input + (in_y * p->in_w + in_x) * words;
                        for (int32_t c = 0; c < in_c; ++c) {
                            acc += mf_bits_get(x, c) ? (int32_t)mf_ld_s8(&f[c]) : -(int32_t)mf_ld_s8(&f[c]);
                        }
                    }
                }
                output[(oy * p->out_w + ox) * p->out_c + oc] = epilogue(p, acc, mf_ld_f32(&scale[oc]), mf_ld_f32(&offset[oc]));
            }
        }
    }
}

/* The +-1 (or pad_value) inputs under output pixel (oy, ox), in filter order (ky, kx, c), laid out
 * for mf_dot_s8_s16. */
static void gather_window(const mf_bconv2d_int8w_params *p, const uint32_t *input, int32_t oy, int32_t ox,
                          int16_t *win)
{
    const int32_t in_c = p->in_c;
    const int32_t words = MF_BITS_WORDS(in_c);
    const int32_t run4 = ((int32_t)p->filter_h * p->filter_w * in_c) & ~3;
    int32_t i = 0;
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

void mf_bconv2d_int8w(const mf_bconv2d_int8w_params *params, const uint32_t *input, const int8_t *filter,
                      const float *scale, const float *offset, int16_t *scratch, float *output)
{
    MF_PARAMS(mf_bconv2d_int8w_params, p, params);
    const int32_t run = (int32_t)p->filter_h * p->filter_w * p->in_c;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            float *out = output + (oy * p->out_w + ox) * p->out_c;
            gather_window(p, input, oy, ox, scratch);
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                out[oc] = epilogue(p, mf_dot_s8_s16(filter + oc * run, scratch, run, 0), mf_ld_f32(&scale[oc]), mf_ld_f32(&offset[oc]));
            }
        }
    }
}
