/* Power spectrum of a real frame: one radix-2 complex FFT of half the length plus the
 * standard split step, float32, in place, no allocation. */
#ifndef MF_RFFT_H
#define MF_RFFT_H

#include <stdint.h>

/* x: n real samples (n a power of two >= 4), overwritten by the transform.
 * cos_t/sin_t: cos(2 pi k / n) and sin(2 pi k / n) for k = 0 .. n/2 - 1.
 * power: n/2 + 1 values |X[k]|^2 of the unnormalized DFT X (as numpy's rfft). */
void mf_rfft_power(float *x, uint32_t n, const float *cos_t, const float *sin_t, float *power);

#endif
