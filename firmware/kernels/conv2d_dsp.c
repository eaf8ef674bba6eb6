/* int8 convolution with SMLAD (see conv2d_dsp.h for the layouts the generator prepares).
 *
 * Two output pixels at a time: their receptive fields are unpacked once into scratch as int16
 * (im2col; a 1x1 layer is a plain sign extension), four values of pixel 0 then four of pixel 1,
 * each four stored as (x0, x2), (x1, x3) -- the lanes SXTB16 splits four weight bytes into -- so
 * one SXTB16 pair of a filter word feeds both pixels. Then every pair of output channels is a 2x2
 * tile of dot products in four registers: per four weights of two channels, one 8-byte weight load,
 * one 16-byte input load, four SXTB16 and eight SMLAD (16 MACs in 14 instructions).
 *
 * pairs_full, in assembly, runs all channel pairs of a pixel pair with the bias load and the
 * requantization fused, saturating to int8; a narrower activation clamp is a pass over the pixel
 * pair's outputs after it, an odd last channel one more pair into a small buffer. */
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
    if (i + 4 <= end) { /* whole groups: 8 int16 apart in the column */
        int16_t *dst = col + COL_POS(i, 0);
        for (; i + 4 <= end; i += 4, x += 4, dst += 8) {
            const uint32_t v = mf_load32(x);
            const uint32_t even = (uint32_t)__sxtb16((int8x4_t)v), odd = (uint32_t)mf_sxtb16_ror8(v);
            memcpy(dst, &even, 4);
            memcpy(dst + 2, &odd, 4);
        }
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

/* What pairs_full reads, at these byte offsets. */
typedef struct {
    const int8_t *w;      /*  0: the paired filter */
    const int32_t *q;     /*  4: per pair: bias, bias, mult, q_hi, mult, q_hi */
    const int16_t *col;   /*  8: the two pixels' column */
    int32_t singles;      /* 12: groups of four % 4 */
    int32_t quads;        /* 16: groups of four / 4 */
    int8_t *y0;           /* 20: pixel 0's output; pixel 1's at y0 + y1_off */
    int32_t y1_off;       /* 24: out_c, or 0 for a lone last pixel (pixel 0 is stored last) */
    const int32_t *q_end; /* 28: q past the last pair */
} pair_run;

/* One output of the requantization, from the accumulator in ACC into r10: mf_requant_folded with
 * r6 = multiplier, r7 = q_hi, r8 = e - 2, and SSAT's own ASR #1 for the last bit of the shift. */
#define RQ_FOLDED(ACC)                          \
    "and r9, " ACC ", #0x80000000\n\t"          \
    "orr r9, r9, #0x40000000\n\t"               \
    "add r10, r7, " ACC ", asr #31\n\t"         \
    "smlal r9, r10, " ACC ", r6\n\t"            \
    "asr r10, r10, r8\n\t"                      \
    "ssat r10, #8, r10, asr #1\n\t"

/* One group: four weights of each channel of the pair (one LDRD into r6, r7), four column values
 * of each pixel (one LDM into r8-r11), SXTB16 splitting the weights into the column's lane order
 * (in r12), eight SMLAD into a<pixel><channel> = a00 r0, a01 r1, a10 r2, a11 r3: 14 instructions
 * for 16 MACs. w in r4, col in r5. */
#define DOT_GROUP                         \
    "ldrd r6, r7, [r4], #8\n\t"                 \
    "ldmia r5!, {r8, r9, r10, r11}\n\t"         \
    "sxtb16 r12, r6\n\t"                        \
    "smlad r0, r12, r8, r0\n\t"                 \
    "smlad r2, r12, r10, r2\n\t"                \
    "sxtb16 r12, r6, ror #8\n\t"                \
    "smlad r0, r12, r9, r0\n\t"                 \
    "smlad r2, r12, r11, r2\n\t"                \
    "sxtb16 r12, r7\n\t"                        \
    "smlad r1, r12, r8, r1\n\t"                 \
    "smlad r3, r12, r10, r3\n\t"                \
    "sxtb16 r12, r7, ror #8\n\t"                \
    "smlad r1, r12, r9, r1\n\t"                 \
    "smlad r3, r12, r11, r3\n\t"

/* Every channel pair of one pixel pair, int8 clamp (see pair_run): per pair, the bias pair into
 * the four accumulators, the dot products (lr counts the loops), then four outputs, pixel 1's
 * stored first. In assembly as a whole: the dot products need 14 registers, and GCC 12 spilled and
 * reloaded around them (33 instructions of glue per pair against 16 here, requantization apart;
 * it neither folds the rotate into SXTB16). */
__attribute__((naked, noinline)) static void pairs_full(const pair_run *r __attribute__((unused))) /* in r0 */
{
    __asm__ volatile(
        "push {r4-r11, lr}\n\t"
        "ldm r0, {r1-r8}\n\t"
        "sub sp, sp, #32\n\t"
        "stm sp, {r1-r8}\n\t" /* the pair_run, at [sp] */
        "mov r4, r1\n\t"      /* w */
        "1:\n\t"
        "ldr r5, [sp, #4]\n\t"
        "ldrd r0, r1, [r5]\n\t" /* bias of the pair */
        "mov r2, r0\n\t"
        "mov r3, r1\n\t"
        "ldrd r5, lr, [sp, #8]\n\t" /* col, singles */
        "cmp lr, #0\n\t"
        "beq 3f\n\t"
        "2:\n\t"
        DOT_GROUP
        "subs lr, lr, #1\n\t"
        "bne 2b\n\t"
        "3:\n\t"
        "ldr lr, [sp, #16]\n\t" /* quads */
        "cmp lr, #0\n\t"
        "beq 5f\n\t"
        "4:\n\t"
        DOT_GROUP DOT_GROUP DOT_GROUP DOT_GROUP
        "subs lr, lr, #1\n\t"
        "bne 4b\n\t"
        "5:\n\t"
        "ldr r5, [sp, #4]\n\t"
        "ldrd r11, r12, [sp, #20]\n\t" /* y0, y1_off */
        "ldrd r6, r7, [r5, #8]\n\t"    /* channel 0 */
        "rbit r8, r7\n\t"
        "clz r8, r8\n\t"
        RQ_FOLDED("r2")
        "strb r10, [r11, r12]\n\t"
        RQ_FOLDED("r0")
        "strb r10, [r11], #1\n\t"
        "ldrd r6, r7, [r5, #16]\n\t"   /* channel 1 */
        "rbit r8, r7\n\t"
        "clz r8, r8\n\t"
        RQ_FOLDED("r3")
        "strb r10, [r11, r12]\n\t"
        RQ_FOLDED("r1")
        "strb r10, [r11], #1\n\t"
        "adds r5, r5, #24\n\t"
        "str r5, [sp, #4]\n\t"
        "str r11, [sp, #20]\n\t"
        "ldr lr, [sp, #28]\n\t"
        "cmp r5, lr\n\t"
        "bne 1b\n\t"
        "add sp, sp, #32\n\t"
        "pop {r4-r11, pc}\n\t");
}

void mf_conv2d_s8_dsp(const mf_conv2d_params *p, int32_t k4, const int8_t *input, const int8_t *filter,
                      const int32_t *q, int16_t *scratch, int8_t *output)
{
    const int32_t pixels = (int32_t)p->out_h * p->out_w, out_c = p->out_c, full_pairs = out_c >> 1;
    const int32_t lo = p->act_min, hi = p->act_max, groups = k4 >> 2;
    for (int32_t pix = 0; pix < pixels; pix += 2) {
        const int two = pix + 1 < pixels;
        im2col(p, k4, input, pix, scratch);
        if (two) { /* an odd last pixel: the second column's sums are computed but not stored */
            im2col(p, k4, input, pix + 1, scratch + 4);
        }
        int8_t *y0 = output + pix * out_c;
        pair_run run = {filter, q, scratch, groups & 3, groups >> 2, y0, two ? out_c : 0, q + 6 * full_pairs};
        if (full_pairs > 0) {
            pairs_full(&run);
        }
        if (out_c & 1) { /* the last channel and its zero partner, into t: pixel 0 at t[0], pixel 1 at t[2] */
            int8_t t[4];
            run.w = filter + full_pairs * 2 * k4;
            run.q = run.q_end;
            run.q_end += 6;
            run.y0 = t;
            run.y1_off = 2;
            pairs_full(&run);
            y0[out_c - 1] = t[0];
            if (two) {
                y0[2 * out_c - 1] = t[2];
            }
        }
        mf_clamp_s8(y0, (two ? 2 : 1) * out_c, lo, hi);
    }
}
#else
typedef int mf_conv2d_dsp_unavailable; /* no DSP extension: the generator never calls this kernel */
#endif
