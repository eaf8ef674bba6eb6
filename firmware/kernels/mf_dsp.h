/* Small helpers of the *_dsp kernels (Arm DSP extension only). */
#ifndef MF_DSP_H
#define MF_DSP_H

#include <stdint.h>
#include <string.h>

/* Weights that LDRD may read: 4-byte aligned. */
#if defined(__GNUC__)
#define MF_DSP_ALIGN __attribute__((aligned(4)))
#else
#define MF_DSP_ALIGN
#endif

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>

/* Four bytes from any address (one LDR: Cortex-M4/M7 LDR allows unaligned addresses). */
static inline uint32_t mf_load32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Bytes 1 and 3 sign-extended to two int16 lanes, in one instruction: GCC 12 does not fold the
 * rotate of __sxtb16((v >> 8) | (v << 24)) into SXTB16. */
static inline int16x2_t mf_sxtb16_ror8(uint32_t v)
{
    int16x2_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}
#endif

/* y[0..n) clamped to [lo, hi]: after a kernel's int8 saturation the same values as clamping its
 * requantized sums, since [lo, hi] lies within [-128, 127]. Nothing to do for int8's own range. */
static inline void mf_clamp_s8(int8_t *y, int32_t n, int32_t lo, int32_t hi)
{
    if (lo == INT8_MIN && hi == INT8_MAX) {
        return;
    }
    for (int32_t i = 0; i < n; ++i) {
        y[i] = (int8_t)(y[i] < lo ? lo : (y[i] > hi ? hi : y[i]));
    }
}

#endif
