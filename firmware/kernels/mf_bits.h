/* Bit-packed binary tensors: 32 channels per uint32_t word, channel c in word c / 32, bit c % 32;
 * bit 1 = +1, bit 0 = -1. Producers leave the unused high bits of the last word 0; consumers
 * mask them (mf_bits_last_mask) so that stray bits never count. */
#ifndef MF_BITS_H
#define MF_BITS_H

#include <stdint.h>

#include "mf_const.h"

#define MF_BITS_WORDS(channels) (((channels) + 31) / 32)

/* Population count. The portable SWAR bit trick by default (a dozen instructions on any
 * 32-bit core); define MF_POPCOUNT_BUILTIN to use the compiler's builtin instead (a single
 * instruction where the CPU has one, e.g. x86 with -mpopcnt). */
#if defined(MF_POPCOUNT_BUILTIN) && defined(__GNUC__)
#define MF_POPCOUNT32(x) ((uint32_t)__builtin_popcount((unsigned int)(x)))
#else
#define MF_POPCOUNT32(x) mf_popcount32(x)
#endif

/* The first two SWAR steps of the popcount: eight 4-bit counts (each <= 4) of x's nibbles. The
 * sum of two such words still fits 4 bits per nibble (<= 8), so word pairs share the rest. */
static inline uint32_t mf_popcount_nibbles(uint32_t x)
{
    x = x - ((x >> 1) & 0x55555555u);
    return (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
}

static inline uint32_t mf_popcount32(uint32_t x)
{
    x = mf_popcount_nibbles(x);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu; /* byte counts <= 8: adding neighbours cannot carry */
    return (x * 0x01010101u) >> 24;
}

/* Nibble counts (each <= 8) -> four byte counts (each <= 16). */
static inline uint32_t mf_nibbles_to_bytes(uint32_t x)
{
    return (x & 0x0F0F0F0Fu) + ((x >> 4) & 0x0F0F0F0Fu);
}

/* Sum of the four bytes of x, any values (up to 4 x 255; the popcount's multiply trick would
 * keep only the low 8 bits of the total). */
static inline uint32_t mf_sum_bytes(uint32_t x)
{
    x = (x & 0x00FF00FFu) + ((x >> 8) & 0x00FF00FFu);
    return (x + (x >> 16)) & 0xFFFFu;
}

/* Carry-save adder over 32 bit lanes: a + b + c = 2 * h + l in every lane. */
#define MF_CSA(h, l, a, b, c)                      \
    do {                                           \
        const uint32_t mf_csa_a_ = (a);            \
        const uint32_t mf_csa_u_ = mf_csa_a_ ^ (b); \
        (h) = (mf_csa_a_ & (b)) | (mf_csa_u_ & (c)); \
        (l) = mf_csa_u_ ^ (c);                     \
    } while (0)

/* Number of differing bits of a[0..n) and b[0..n) (b: weights, MF_CONST): XOR + popcount, Harley-Seal style. Blocks of
 * 8 words go through a tree of carry-save adders into bit-sliced counters (ones, twos, fours) and
 * one popcount of the eights per block instead of eight popcounts. The counters and the last < 8
 * words are then counted together as byte counts (each <= 8 + 16 + 32 + 4 * 16 = 120) summed
 * once. Measured with GCC 12 -O2 for a Cortex-M4 under QEMU icount: a 3x3 binary conv over 256
 * channels (72-word runs) takes 11.2 instructions a word, gather and thresholds included,
 * against 16.7 with pairwise-reduced popcounts (the M4 has no popcount instruction). */
static inline int32_t mf_bits_differ(const uint32_t *a, const uint32_t *b, int32_t n)
{
    uint32_t ones = 0u, twos = 0u, fours = 0u, bytes;
    int32_t eights = 0;
    for (; n >= 8; n -= 8, a += 8, b += 8) {
        uint32_t twos_a, twos_b, fours_a, fours_b, eight;
        MF_CSA(twos_a, ones, ones, a[0] ^ mf_ld_u32(&b[0]), a[1] ^ mf_ld_u32(&b[1]));
        MF_CSA(twos_b, ones, ones, a[2] ^ mf_ld_u32(&b[2]), a[3] ^ mf_ld_u32(&b[3]));
        MF_CSA(fours_a, twos, twos, twos_a, twos_b);
        MF_CSA(twos_a, ones, ones, a[4] ^ mf_ld_u32(&b[4]), a[5] ^ mf_ld_u32(&b[5]));
        MF_CSA(twos_b, ones, ones, a[6] ^ mf_ld_u32(&b[6]), a[7] ^ mf_ld_u32(&b[7]));
        MF_CSA(fours_b, twos, twos, twos_a, twos_b);
        MF_CSA(eight, fours, fours, fours_a, fours_b);
        eights += (int32_t)MF_POPCOUNT32(eight);
    }
    /* nibbles: ones + 2 * twos <= 4 + 8; bytes: that pair <= 24, 4 * fours <= 32 */
    bytes = mf_nibbles_to_bytes(mf_popcount_nibbles(ones) + 2u * mf_popcount_nibbles(twos)) +
            4u * mf_nibbles_to_bytes(mf_popcount_nibbles(fours));
    for (; n > 0; n -= 2, a += 2, b += 2) { /* < 8 words left: at most 4 steps of <= 16 */
        const uint32_t second = n > 1 ? mf_popcount_nibbles(a[1] ^ mf_ld_u32(&b[1])) : 0u;
        bytes += mf_nibbles_to_bytes(mf_popcount_nibbles(a[0] ^ mf_ld_u32(&b[0])) + second);
    }
    return 8 * eights + (int32_t)mf_sum_bytes(bytes);
}

/* Valid-channel mask of the last word of a row of `channels` bits. */
static inline uint32_t mf_bits_last_mask(int32_t channels)
{
    const int32_t r = channels % 32;
    return r == 0 ? 0xFFFFFFFFu : ((uint32_t)1 << r) - 1u;
}

/* Bit of channel c in a packed row (0 or 1). */
static inline uint32_t mf_bits_get(const uint32_t *row, int32_t c)
{
    return (row[c >> 5] >> (c & 31)) & 1u;
}

/* Folded BatchNorm + ReLU + sign on an integer accumulator: 1 (+1) or 0 (-1).
 * flip 0: acc >= threshold (BatchNorm gamma > 0); flip 1: acc <= threshold (gamma < 0). */
static inline uint32_t mf_bits_threshold(int32_t acc, int32_t threshold, uint8_t flip)
{
    return flip ? (uint32_t)(acc <= threshold) : (uint32_t)(acc >= threshold);
}

#endif
