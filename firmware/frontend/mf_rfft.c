/* Real FFT by the "two for one" trick: the n real samples are read as n/2 complex values
 * z[k] = x[2k] + i x[2k+1] (exactly their memory layout), transformed by an iterative
 * radix-2 FFT, then split into the spectrum of x. */
#include "mf_rfft.h"

/* Bit-reversal permutation of m complex values (interleaved re, im). */
static void bit_reverse(float *z, uint32_t m)
{
    uint32_t i, j = 0;
    for (i = 1; i < m; i++) {
        uint32_t bit = m >> 1;
        while (j & bit) {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if (i < j) {
            float t = z[2u * i];
            z[2u * i] = z[2u * j];
            z[2u * j] = t;
            t = z[2u * i + 1u];
            z[2u * i + 1u] = z[2u * j + 1u];
            z[2u * j + 1u] = t;
        }
    }
}

/* In-place decimation-in-time FFT of m complex values. The twiddle tables are those of
 * length n = 2m: W_len^j = exp(-2 pi i j / len) is entry j * (n / len). */
static void complex_fft(float *z, uint32_t m, const float *cos_t, const float *sin_t)
{
    uint32_t len, i, j;
    bit_reverse(z, m);
    for (i = 0; i + 1u < m; i += 2u) { /* first stage: the twiddle is 1 */
        float *a = z + 2u * i;
        float br = a[2], bi = a[3];
        a[2] = a[0] - br;
        a[3] = a[1] - bi;
        a[0] += br;
        a[1] += bi;
    }
    for (len = 4u; len <= m; len <<= 1) {
        uint32_t half = len >> 1;
        uint32_t stride = (2u * m) / len;
        for (j = 0; j < half; j++) {
            float wr = cos_t[j * stride];
            float wi = -sin_t[j * stride];
            for (i = j; i < m; i += len) {
                float *a = z + 2u * i;
                float *b = z + 2u * (i + half);
                float tr = b[0] * wr - b[1] * wi;
                float ti = b[0] * wi + b[1] * wr;
                b[0] = a[0] - tr;
                b[1] = a[1] - ti;
                a[0] += tr;
                a[1] += ti;
            }
        }
    }
}

void mf_rfft_power(float *x, uint32_t n, const float *cos_t, const float *sin_t, float *power)
{
    uint32_t m = n >> 1, k;
    float dc, nyquist;
    complex_fft(x, m, cos_t, sin_t);
    dc = x[0] + x[1];
    nyquist = x[0] - x[1];
    power[0] = dc * dc;
    power[m] = nyquist * nyquist;
    for (k = 1; k < m; k++) {
        /* a = Z[k], b = Z[m-k]: even part (a + conj b)/2, odd part (a - conj b)/(2i);
         * X[k] = even + exp(-2 pi i k / n) * odd. */
        float ar = x[2u * k], ai = x[2u * k + 1u];
        float br = x[2u * (m - k)], bi = x[2u * (m - k) + 1u];
        float er = 0.5f * (ar + br), ei = 0.5f * (ai - bi);
        float or_ = 0.5f * (ai + bi), oi = 0.5f * (br - ar);
        float c = cos_t[k], s = sin_t[k];
        float xr = er + c * or_ + s * oi;
        float xi = ei + c * oi - s * or_;
        power[k] = xr * xr + xi * xi;
    }
}
