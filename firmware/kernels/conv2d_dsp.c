/* int8 convolution with SMLAD (see conv2d_dsp.h for the layouts the generator prepares).
 *
 * Two output pixels at a time: their receptive fields are unpacked once into scratch as int16
 * (im2col; a 1x1 layer is a plain sign extension), four values of pixel 0 then four of pixel 1,
 * each four stored as (x0, x2), (x1, x3) -- the lanes SXTB16 splits four weight bytes into -- so
 * one SXTB16 pair of a filter word feeds both pixels. Then every pair of output channels is a 2x2
 * tile of dot products in four registers: per four weights of two channels, one 8-byte weight load,
 * one 16-byte input load, four SXTB16 and eight SMLAD (32 MACs in 14 instructions). */
#include "conv2d_dsp.h"

#if defined(__ARM_FEATURE_DSP)
#include "mf_dsp.h"
#include "mf_requant.h"

/* Position of value i of pixel px in the two-pixel column. */
#define COL_POS(i, px) ((((i) >> 2) << 3) + ((px) << 2) + ((((i) & 1) << 1) | (((i) >> 1) & 1)))

/* Column of output pixel `pixel` (px 0 or 1 of the pair): its window in filter order, padding
 * taps as the zero point (-input_offset), the tail up to k4 as 0. */
static void im2col(const mf_conv2d_params *p, int32_t k4, const int8_t *input, int32_t pixel, int32_t px,
                   int16_t *col)
{
    const int32_t in_c = p->in_c, oy = pixel / p->out_w, ox = pixel % p->out_w;
    const int16_t zp = (int16_t)-p->input_offset;
    int32_t i = 0;
    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
        const int32_t in_y = oy * p->stride_h - p->pad_h + ky * p->dilation_h;
        for (int32_t kx = 0; kx < p->filter_w; ++kx) {
            const int32_t in_x = ox * p->stride_w - p->pad_w + kx * p->dilation_w;
            if (in_y < 0 || in_y >= p->in_h || in_x < 0 || in_x >= p->in_w) {
                for (int32_t c = 0; c < in_c; ++c, ++i) {
                    col[COL_POS(i, px)] = zp;
                }
                continue;
            }
            const int8_t *x = input + (in_y * p->in_w + in_x) * in_c;
            int32_t c = 0;
            if ((i & 3) == 0) { /* aligned to a group: four values per SXTB16 pair */
                for (; c + 4 <= in_c; c += 4, i += 4) {
                    const uint32_t v = mf_load32(x + c);
                    const uint32_t lo = (uint32_t)__sxtb16((int8x4_t)v), hi = (uint32_t)mf_sxtb16_ror8(v);
                    memcpy(col + COL_POS(i, px), &lo, 4);
                    memcpy(col + COL_POS(i, px) + 2, &hi, 4);
                }
            }
            for (; c < in_c; ++c, ++i) {
                col[COL_POS(i, px)] = x[c];
            }
        }
    }
    for (; i < k4; ++i) {
        col[COL_POS(i, px)] = 0;
    }
}

/* One group: four weights of each channel of the pair (one LDRD), four column values of each
 * pixel (two LDRD), SXTB16 splitting the weights into the column's lane order, eight SMLAD. */
#define DOT_GROUP \
    "ldrd %[wa], %[wb], [%[w]], #8\n\t"                         \
    "ldrd %[x1a], %[x1b], [%[col], #8]\n\t"                     \
    "ldrd %[x0a], %[x0b], [%[col]], #16\n\t"                    \
    "sxtb16 %[t], %[wa]\n\t"                                    \
    "smlad %[a00], %[t], %[x0a], %[a00]\n\t"                    \
    "smlad %[a10], %[t], %[x1a], %[a10]\n\t"                    \
    "sxtb16 %[t], %[wa], ror #8\n\t"                            \
    "smlad %[a00], %[t], %[x0b], %[a00]\n\t"                    \
    "smlad %[a10], %[t], %[x1b], %[a10]\n\t"                    \
    "sxtb16 %[t], %[wb]\n\t"                                    \
    "smlad %[a01], %[t], %[x0a], %[a01]\n\t"                    \
    "smlad %[a11], %[t], %[x1a], %[a11]\n\t"                    \
    "sxtb16 %[t], %[wb], ror #8\n\t"                            \
    "smlad %[a01], %[t], %[x0b], %[a01]\n\t"                    \
    "smlad %[a11], %[t], %[x1b], %[a11]\n\t"

/* The 2x2 tile (pixels x channels) over `groups` groups of four, accumulated into *a<px><ch>.
 * Assembly because GCC 12 neither folds the rotate into SXTB16 nor keeps the 14 live values in
 * registers (it reloads the loop bound from the stack). Two groups per iteration. */
static inline void dot_2x2(const int8_t *w, const int16_t *col, int32_t groups, int32_t *p00, int32_t *p01,
                           int32_t *p10, int32_t *p11)
{
    int32_t a00 = *p00, a01 = *p01, a10 = *p10, a11 = *p11;
    uint32_t wa, wb, x0a, x0b, x1a, x1b, t;
    if (groups & 1) {
        __asm__(DOT_GROUP
                : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [w] "+r"(w), [col] "+r"(col),
                  [wa] "=&r"(wa), [wb] "=&r"(wb), [x0a] "=&r"(x0a), [x0b] "=&r"(x0b), [x1a] "=&r"(x1a),
                  [x1b] "=&r"(x1b), [t] "=&r"(t)
                :
                : "memory");
    }
    for (int32_t n = groups >> 1; n > 0; --n) {
        __asm__(DOT_GROUP DOT_GROUP
                : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [w] "+r"(w), [col] "+r"(col),
                  [wa] "=&r"(wa), [wb] "=&r"(wb), [x0a] "=&r"(x0a), [x0b] "=&r"(x0b), [x1a] "=&r"(x1a),
                  [x1b] "=&r"(x1b), [t] "=&r"(t)
                :
                : "memory");
    }
    *p00 = a00;
    *p01 = a01;
    *p10 = a10;
    *p11 = a11;
}

void mf_conv2d_s8_dsp(const mf_conv2d_params *p, int32_t k4, const int8_t *input, const int8_t *filter,
                      const int32_t *bias, const int32_t *mult, const int32_t *round_hi, int16_t *scratch,
                      int8_t *output)
{
    const int32_t pixels = (int32_t)p->out_h * p->out_w, out_c = p->out_c, pairs = (out_c + 1) >> 1;
    const int32_t off = p->output_offset, lo = p->act_min, hi = p->act_max;
    for (int32_t pix = 0; pix < pixels; pix += 2) {
        const int two = pix + 1 < pixels;
        im2col(p, k4, input, pix, 0, scratch);
        if (two) { /* an odd last pixel: the second column's sums are computed but not stored */
            im2col(p, k4, input, pix + 1, 1, scratch);
        }
        int8_t *out0 = output + pix * out_c, *out1 = out0 + out_c;
        const int8_t *w = filter;
        for (int32_t j = 0; j < pairs; ++j) {
            const int32_t c0 = 2 * j, c1 = c0 + 1;
            int32_t a00 = bias[c0], a10 = a00, a01 = bias[c1], a11 = a01; /* a<pixel><channel> */
            dot_2x2(w, scratch, k4 >> 2, &a00, &a01, &a10, &a11);
            w += 2 * k4;
            out0[c0] = mf_requant_output(a00, mult[c0], round_hi[c0], off, lo, hi);
            if (two) {
                out1[c0] = mf_requant_output(a10, mult[c0], round_hi[c0], off, lo, hi);
            }
            if (c1 < out_c) {
                out0[c1] = mf_requant_output(a01, mult[c1], round_hi[c1], off, lo, hi);
                if (two) {
                    out1[c1] = mf_requant_output(a11, mult[c1], round_hi[c1], off, lo, hi);
                }
            }
        }
    }
}
#else
typedef int mf_conv2d_dsp_unavailable; /* no DSP extension: the generator never calls this kernel */
#endif
