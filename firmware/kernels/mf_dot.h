/* int8 x int16 dot products over a window gathered once per output pixel (conv2d_threshold,
 * bconv2d_int8w). With the Arm DSP extension each full group of four window values is stored as
 * (x0, x2, x1, x3): the lane order in which SXTB16 splits four filter bytes into int16 pairs, so
 * that SMLAD multiplies two pairs per instruction and the int8 filter is read straight from flash
 * (CMSIS-NN's reordered q7-to-q15 trick). Without it the window is in plain order. */
#ifndef MF_DOT_H
#define MF_DOT_H

#include <stdint.h>

#include "mf_const.h"

#if defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#include <string.h>
/* Position of run index i in the window (run4: the run rounded down to a multiple of 4). */
#define MF_WIN_POS(i, run4) ((i) < (run4) ? (((i) & ~3) | (((i) & 1) << 1) | (((i) >> 1) & 1)) : (i))

/* acc + f[0..4) . x[0..4), the window group stored as (x0, x2, x1, x3). */
static inline int32_t mf_dot4_s8_s16(const int8_t *f, const int16_t *win, int32_t acc)
{
    uint32_t w4, x02, x13;
    memcpy(&w4, f, 4); /* unaligned-safe; one LDR on Cortex-M4 */
    memcpy(&x02, win, 4);
    memcpy(&x13, win + 2, 4);
    acc = __smlad((int16x2_t)__sxtb16((int8x4_t)w4), (int16x2_t)x02, acc);
    return __smlad((int16x2_t)__sxtb16((int8x4_t)((w4 >> 8) | (w4 << 24))), (int16x2_t)x13, acc);
}
#else
#define MF_WIN_POS(i, run4) ((void)(run4), (i))
#endif

/* acc + sum f[i] * x[i] over the run (f: weights, MF_CONST), the window laid out with MF_WIN_POS. */
static inline int32_t mf_dot_s8_s16(const int8_t *f, const int16_t *win, int32_t run, int32_t acc)
{
    int32_t i = 0;
#if defined(__ARM_FEATURE_SIMD32)
    for (; i + 8 <= run; i += 8) { /* two groups per iteration: -O2 keeps loops rolled */
        acc = mf_dot4_s8_s16(f + i, win + i, acc);
        acc = mf_dot4_s8_s16(f + i + 4, win + i + 4, acc);
    }
    if (i + 4 <= run) {
        acc = mf_dot4_s8_s16(f + i, win + i, acc);
        i += 4;
    }
#else
    for (; i + 4 <= run; i += 4) { /* unrolled: -O2 keeps loops rolled */
        acc += (int32_t)mf_ld_s8(&f[i]) * win[i] + (int32_t)mf_ld_s8(&f[i + 1]) * win[i + 1] +
               (int32_t)mf_ld_s8(&f[i + 2]) * win[i + 2] + (int32_t)mf_ld_s8(&f[i + 3]) * win[i + 3];
    }
#endif
    for (; i < run; ++i) {
        acc += (int32_t)mf_ld_s8(&f[i]) * win[i];
    }
    return acc;
}

#endif
