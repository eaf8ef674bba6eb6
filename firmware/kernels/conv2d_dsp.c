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

/* Position of value i of pixel px in the two-pixel column (pixel 1 starts 4 values on). */
#define COL_POS(i, px) ((((i) >> 2) << 3) + ((px) << 2) + ((((i) & 1) << 1) | (((i) >> 1) & 1)))

/* n values of one pixel's column from i on: x[0..n) sign-extended (x NULL: the zero point zp).
 * Groups of four starting on a group boundary take one SXTB16 pair. Returns the next i. */
static int32_t put_run(int16_t *col, int32_t i, const int8_t *x, int32_t n, int16_t zp)
{
    const int32_t end = i + n;
    if (x == NULL) {
        for (; i < end; ++i) {
            col[COL_POS(i, 0)] = zp;
        }
        return i;
    }
    for (; (i & 3) != 0 && i < end; ++i, ++x) {
        col[COL_POS(i, 0)] = *x;
    }
    for (; i + 4 <= end; i += 4, x += 4) {
        const uint32_t v = mf_load32(x);
        const uint32_t even = (uint32_t)__sxtb16((int8x4_t)v), odd = (uint32_t)mf_sxtb16_ror8(v);
        memcpy(col + COL_POS(i, 0), &even, 4);
        memcpy(col + COL_POS(i, 0) + 2, &odd, 4);
    }
    for (; i < end; ++i, ++x) {
        col[COL_POS(i, 0)] = *x;
    }
    return i;
}

/* The column of one output pixel into col (scratch, or scratch + 4 for the pair's second pixel):
 * its window in filter order, padding taps as the zero point, the tail up to k4 as 0. Without
 * dilation the valid taps of a filter row are one contiguous run of the input. */
static void im2col(const mf_conv2d_params *p, int32_t k4, const int8_t *input, int32_t pixel, int16_t *col)
{
    const int32_t in_c = p->in_c, fw = p->filter_w, oy = pixel / p->out_w, ox = pixel % p->out_w;
    const int16_t zp = (int16_t)-p->input_offset;
    const int32_t in_x0 = ox * p->stride_w - p->pad_w;
    int32_t i = 0;
    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
        const int32_t in_y = oy * p->stride_h - p->pad_h + ky * p->dilation_h;
        if (in_y < 0 || in_y >= p->in_h) {
            i = put_run(col, i, NULL, fw * in_c, zp);
            continue;
        }
        const int8_t *row = input + in_y * p->in_w * in_c;
        if (p->dilation_w == 1) {
            const int32_t kx0 = in_x0 < 0 ? (-in_x0 < fw ? -in_x0 : fw) : 0;
            const int32_t kx1 = in_x0 + fw > p->in_w ? (p->in_w - in_x0 > kx0 ? p->in_w - in_x0 : kx0) : fw;
            i = put_run(col, i, NULL, kx0 * in_c, zp);
            i = put_run(col, i, row + (in_x0 + kx0) * in_c, (kx1 - kx0) * in_c, zp);
            i = put_run(col, i, NULL, (fw - kx1) * in_c, zp);
            continue;
        }
        for (int32_t kx = 0; kx < fw; ++kx) {
            const int32_t in_x = in_x0 + kx * p->dilation_w;
            i = put_run(col, i, in_x >= 0 && in_x < p->in_w ? row + in_x * in_c : NULL, in_c, zp);
        }
    }
    for (; i < k4; ++i) {
        col[COL_POS(i, 0)] = 0;
    }
}

/* One group: four weights of each channel of the pair (one LDRD), four column values of each
 * pixel (one LDM into r8-r11, the registers x0a..x1b are bound to, in memory order), SXTB16
 * splitting the weights into the column's lane order, eight SMLAD: 14 instructions, 16 MACs. */
#define DOT_GROUP \
    "ldrd %[wa], %[wb], [%[w]], #8\n\t"                         \
    "ldmia %[col]!, {r8, r9, r10, r11}\n\t"                     \
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

#define DOT_OPERANDS                                                                                                \
    : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [w] "+r"(w), [col] "+r"(col),          \
      [wa] "=&r"(wa), [wb] "=&r"(wb), [x0a] "=&r"(x0a), [x0b] "=&r"(x0b), [x1a] "=&r"(x1a), [x1b] "=&r"(x1b),     \
      [t] "=&r"(t)                                                                                                  \
    :                                                                                                               \
    : "memory"

/* The 2x2 tile (pixels x channels) over `groups` groups of four, accumulated into *a<px><ch>.
 * Assembly because GCC 12 neither folds the rotate into SXTB16 nor keeps the 14 live values in
 * registers (it reloads the loop bound from the stack). Four groups per iteration. */
static inline void dot_2x2(const int8_t *w, const int16_t *col, int32_t groups, int32_t *p00, int32_t *p01,
                           int32_t *p10, int32_t *p11)
{
    int32_t a00 = *p00, a01 = *p01, a10 = *p10, a11 = *p11;
    uint32_t wa, wb, t;
    register uint32_t x0a __asm__("r8"), x0b __asm__("r9"), x1a __asm__("r10"), x1b __asm__("r11");
    if (groups & 1) {
        __asm__(DOT_GROUP DOT_OPERANDS);
    }
    if (groups & 2) {
        __asm__(DOT_GROUP DOT_GROUP DOT_OPERANDS);
    }
    for (int32_t n = groups >> 2; n > 0; --n) {
        __asm__(DOT_GROUP DOT_GROUP DOT_GROUP DOT_GROUP DOT_OPERANDS);
    }
    *p00 = a00;
    *p01 = a01;
    *p10 = a10;
    *p11 = a11;
}

/* The outputs of two pixels (one if !two) from acc: per channel, the pixels' sums side by side;
 * rq: per channel, the multiplier and 2^(e-2). A loop apart from the dot products, so that the
 * few values it needs stay in registers. */
static void requantize_pair(const int32_t *restrict acc, const int32_t *restrict rq, int32_t out_c, int two,
                            int32_t off, int32_t lo, int32_t hi, int8_t *restrict y0, int8_t *restrict y1)
{
    if (lo == INT8_MIN && hi == INT8_MAX && two) { /* no clamp but int8's own: one SSAT */
        for (int32_t c = 0; c < out_c; ++c, acc += 2, rq += 2) {
            const int32_t m = rq[0], rh = rq[1];
            y0[c] = mf_requant_output_full(acc[0], m, rh, off);
            y1[c] = mf_requant_output_full(acc[1], m, rh, off);
        }
        return;
    }
    for (int32_t c = 0; c < out_c; ++c, acc += 2, rq += 2) {
        const int32_t m = rq[0], rh = rq[1];
        y0[c] = mf_requant_output(acc[0], m, rh, off, lo, hi);
        if (two) {
            y1[c] = mf_requant_output(acc[1], m, rh, off, lo, hi);
        }
    }
}

void mf_conv2d_s8_dsp(const mf_conv2d_params *p, int32_t k4, const int8_t *input, const int8_t *filter,
                      const int32_t *bias, const int32_t *rq, int16_t *scratch,
                      int8_t *output)
{
    const int32_t pixels = (int32_t)p->out_h * p->out_w, out_c = p->out_c, pairs = (out_c + 1) >> 1;
    const int32_t off = p->output_offset, lo = p->act_min, hi = p->act_max;
    int32_t *acc = (int32_t *)(void *)(scratch + 2 * k4);
    for (int32_t pix = 0; pix < pixels; pix += 2) {
        const int two = pix + 1 < pixels;
        im2col(p, k4, input, pix, scratch);
        if (two) { /* an odd last pixel: the second column's sums are computed but not stored */
            im2col(p, k4, input, pix + 1, scratch + 4);
        }
        const int8_t *w = filter;
        for (int32_t j = 0; j < pairs; ++j, w += 2 * k4) {
            int32_t a00 = bias[2 * j], a10 = a00, a01 = bias[2 * j + 1], a11 = a01; /* a<pixel><channel> */
            dot_2x2(w, scratch, k4 >> 2, &a00, &a01, &a10, &a11);
            acc[4 * j] = a00;
            acc[4 * j + 1] = a10;
            acc[4 * j + 2] = a01;
            acc[4 * j + 3] = a11;
        }
        requantize_pair(acc, rq, out_c, two, off, lo, hi, output + pix * out_c, output + (pix + 1) * out_c);
    }
}
#else
typedef int mf_conv2d_dsp_unavailable; /* no DSP extension: the generator never calls this kernel */
#endif
