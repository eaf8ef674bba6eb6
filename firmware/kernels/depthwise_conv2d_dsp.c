/* Depthwise int8 convolution, depth multiplier 1, with the DSP extension (see
 * depthwise_conv2d_dsp.h for what the generator prepares).
 *
 * Per output pixel the address of every tap is found once (a padding tap points at a row of zero
 * points, so every pixel runs the same loop and the folded bias stays exact); then, in assembly,
 * per four channels: the biases, per tap one load of four inputs, one of four weights, SXTB16
 * splitting each into even and odd channels and SMLABB/SMLATT accumulating the four channels (11
 * instructions per 4 MACs), and the four outputs requantized and saturated to int8. A narrower
 * activation clamp is a pass over the pixel's outputs after it; the last in_c % 4 channels are C. */
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

/* The last in_c % 4 channels of one pixel, reading only their bytes; q at their group. */
static __attribute__((noinline)) void tail_group(const mf_depthwise_conv2d_params *p, const int8_t *const *tap,
                                                 int32_t c, const int8_t *w, const int32_t *q, int8_t *out)
{
    const int32_t n = p->in_c - c, taps = (int32_t)p->filter_h * p->filter_w;
    int32_t a0 = q[0], a1 = q[1], a2 = q[2], a3 = q[3];
    for (int32_t t = 0; t < taps; ++t, w += 4) {
        uint32_t x = 0;
        memcpy(&x, tap[t] + c, (size_t)n);
        DW_TAP(x, mf_load32(w));
    }
    (void)a3;
    const int32_t acc[3] = {a0, a1, a2};
    for (int32_t k = 0; k < n; ++k) {
        out[c + k] = mf_requant_folded_s8(acc[k], q[4 + 2 * k], q[5 + 2 * k], INT8_MIN, INT8_MAX);
    }
}

/* What groups_s8 reads, at these byte offsets. */
typedef struct {
    const int8_t *const *tap; /*  0: the pixel's tap addresses */
    const int8_t *w;          /*  4: the grouped filter */
    const int32_t *q;         /*  8: per group: 4 biases, then multiplier and q_hi per channel */
    int8_t *out;              /* 12: the pixel's output */
    int32_t c_end;            /* 16: channels in whole groups of four (> 0) */
    int32_t taps;             /* 20 */
    int32_t threes, ones;     /* 24, 28: taps / 3, taps % 3 */
} group_run;

/* One tap of four channels (channel offset c in r6, weights at r5): its input address (ADDR, an
 * addressing mode on the tap array r4), four inputs, four weights, SXTB16 into even and odd
 * channels, SMLABB/SMLATT into a0..a3 = r0..r3 (11 instructions for 4 MACs). */
#define DW_TAP_ASM(ADDR)                   \
    "ldr r7, " ADDR "\n\t"                 \
    "ldr r7, [r7, r6]\n\t"                 \
    "ldr r8, [r5], #4\n\t"                 \
    "sxtb16 r9, r7\n\t"                    \
    "sxtb16 r7, r7, ror #8\n\t"            \
    "sxtb16 r10, r8\n\t"                   \
    "sxtb16 r8, r8, ror #8\n\t"            \
    "smlabb r0, r10, r9, r0\n\t"           \
    "smlatt r2, r10, r9, r2\n\t"           \
    "smlabb r1, r8, r7, r1\n\t"            \
    "smlatt r3, r8, r7, r3\n\t"

/* The output of accumulator ACC (q at r11, out at r12): mf_requant_folded_full (mf_requant.h),
 * SSAT's own ASR #1 taking the last bit of the shift. */
#define DW_RQ_ASM(ACC)                         \
    "ldrd r7, r8, [r11], #8\n\t"               \
    "rbit r9, r8\n\t"                          \
    "clz r9, r9\n\t"                           \
    "and r10, " ACC ", #0x80000000\n\t"        \
    "orr r10, r10, #0x40000000\n\t"            \
    "add lr, r8, " ACC ", asr #31\n\t"         \
    "smlal r10, lr, " ACC ", r7\n\t"           \
    "asr lr, lr, r9\n\t"                       \
    "ssat lr, #8, lr, asr #1\n\t"              \
    "strb lr, [r12], #1\n\t"

/* Every whole group of four channels of one pixel (see group_run). A 3x3 filter unrolled with the
 * tap addresses at fixed offsets, others three taps a pass. In assembly as a whole: in C, GCC 12
 * spilled the unrolled taps and reloaded its glue from the stack (25 instructions per group). */
__attribute__((naked, noinline)) static void groups_s8(const group_run *r __attribute__((unused))) /* in r0 */
{
    __asm__ volatile(
        "push {r4-r11, lr}\n\t"
        "ldrd r4, r5, [r0]\n\t"       /* tap, w */
        "ldrd r11, r12, [r0, #8]\n\t" /* q, out */
        "add r0, r0, #16\n\t"
        "ldm r0, {r0, r1, r2, r3}\n\t"
        "push {r0, r1, r2, r3}\n\t"   /* [sp]: c_end, taps, threes, ones */
        "movs r6, #0\n\t"             /* c */
        "1:\n\t"
        "ldm r11!, {r0, r1, r2, r3}\n\t" /* the group's biases */
        "ldr lr, [sp, #4]\n\t"
        "cmp lr, #9\n\t"
        "bne 2f\n\t"
        DW_TAP_ASM("[r4]") DW_TAP_ASM("[r4, #4]") DW_TAP_ASM("[r4, #8]")
        DW_TAP_ASM("[r4, #12]") DW_TAP_ASM("[r4, #16]") DW_TAP_ASM("[r4, #20]")
        DW_TAP_ASM("[r4, #24]") DW_TAP_ASM("[r4, #28]") DW_TAP_ASM("[r4, #32]")
        "b 6f\n\t"
        "2:\n\t"
        "ldr lr, [sp, #8]\n\t"
        "cmp lr, #0\n\t"
        "beq 4f\n\t"
        "3:\n\t"
        DW_TAP_ASM("[r4], #4") DW_TAP_ASM("[r4], #4") DW_TAP_ASM("[r4], #4")
        "subs lr, lr, #1\n\t"
        "bne 3b\n\t"
        "4:\n\t"
        "ldr lr, [sp, #12]\n\t"
        "cmp lr, #0\n\t"
        "beq 5f\n\t"
        "7:\n\t"
        DW_TAP_ASM("[r4], #4")
        "subs lr, lr, #1\n\t"
        "bne 7b\n\t"
        "5:\n\t"
        "ldr lr, [sp, #4]\n\t"
        "sub r4, r4, lr, lsl #2\n\t" /* back to the first tap */
        "6:\n\t"
        DW_RQ_ASM("r0") DW_RQ_ASM("r1") DW_RQ_ASM("r2") DW_RQ_ASM("r3")
        "adds r6, r6, #4\n\t"
        "ldr lr, [sp]\n\t"
        "cmp r6, lr\n\t"
        "bne 1b\n\t"
        "add sp, sp, #16\n\t"
        "pop {r4-r11, pc}\n\t");
}

/* In place (output == input: mcuforge.plan.arena chose it, the shapes are equal and the stride 1),
 * output row oy cannot be stored over input row oy while rows up to oy + pad_h still read it: rows
 * wait in a ring of pad_h + 1 rows in scratch, and row oy - pad_h is stored once row oy is done. */
void mf_depthwise_conv2d_s8_dsp(const mf_depthwise_conv2d_params *p, const int8_t *input, const int8_t *filter,
                                const int32_t *q, void *scratch, int8_t *output)
{
    const int32_t ch = p->in_c, c4 = (ch + 3) & ~3, taps = (int32_t)p->filter_h * p->filter_w;
    const int32_t fh = p->filter_h, fw = p->filter_w, dw = p->dilation_w, in_h = p->in_h, in_w = p->in_w;
    const int32_t lo = p->act_min, hi = p->act_max, whole = ch & ~3, row_bytes = p->out_w * ch;
    const int8_t **tap = (const int8_t **)scratch;
    int8_t *zp = (int8_t *)(tap + taps);
    int8_t *ring = output == input ? zp + c4 : NULL;
    const int32_t held = p->pad_h; /* rows a store waits for, in place */
    memset(zp, (int8_t)-p->input_offset, (size_t)c4);
    group_run run = {tap, filter, q, output, whole, taps, taps / 3, taps % 3};
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        int8_t *out_row = ring != NULL ? ring + (oy % (held + 1)) * row_bytes : output + oy * row_bytes;
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
            int8_t *out = out_row + ox * ch;
            if (whole > 0) {
                run.out = out;
                groups_s8(&run);
            }
            if (whole < ch) {
                tail_group(p, tap, whole, filter + whole * taps, q + 3 * whole, out);
            }
            mf_clamp_s8(out, ch, lo, hi);
        }
        if (ring != NULL && oy >= held) { /* input row oy - held has its last reader done */
            memcpy(output + (oy - held) * row_bytes, ring + ((oy - held) % (held + 1)) * row_bytes, (size_t)row_bytes);
        }
    }
    for (int32_t oy = p->out_h - held; ring != NULL && oy < p->out_h; ++oy) {
        if (oy >= 0) {
            memcpy(output + oy * row_bytes, ring + (oy % (held + 1)) * row_bytes, (size_t)row_bytes);
        }
    }
}
#else
typedef int mf_depthwise_conv2d_dsp_unavailable; /* no DSP extension: the generator never calls this kernel */
#endif
