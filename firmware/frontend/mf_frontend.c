/* Streaming log-mel front end; see mf_frontend.h. Float32 throughout (hard float on the
 * M4F); the per-frame cost is one n_fft/2-point complex FFT, the mel sums and n_mels logf. */
#include <math.h>
#include <stddef.h>

#define MF_FRONTEND_CONFIG_TABLES /* this file owns the tables of the config header */
#include "mf_frontend.h"
#include "mf_rfft.h"

#define HALF_BINS (MF_FRONTEND_N_FFT / 2 + 1)

static int16_t ring[MF_FRONTEND_WIN]; /* the last window of samples */
static uint32_t ring_pos;             /* next write position = oldest sample when full */
static uint32_t used;                 /* samples taken into the clip (<= clip length) */
static uint32_t received;             /* samples received, including cut ones */
static uint32_t frames;
static uint32_t next_frame_end; /* `used` value at which the next window is complete */
static int8_t *q_out;
static int open_clip;

static float fft_buf[MF_FRONTEND_N_FFT];
static float power[HALF_BINS];
#if MF_FRONTEND_KEEP_FLOAT
static float features[MF_FRONTEND_VALUES];
#else
static float row[MF_FRONTEND_MELS]; /* the frame the hook is given */
#endif
static mf_frontend_frame_fn frame_hook;

/* q = clamp(sign(v) floor(|v| + 0.5) + zp) with v = x / scale, every step in float32 like
 * the host's quantize_input, so equal features give equal bytes. */
static int8_t quantize(float x)
{
    float v = x / MF_FRONTEND_INPUT_SCALE;
    float a = (v < 0.0f ? -v : v) + 0.5f;
    int32_t q;
    if (a > 1024.0f) { /* saturates anyway; keeps the conversion below defined */
        a = 1024.0f;
    }
    q = (int32_t)a; /* truncation = floor for a >= 0 */
    q = (v < 0.0f ? -q : q) + MF_FRONTEND_INPUT_ZERO_POINT;
    if (q < -128) {
        q = -128;
    } else if (q > 127) {
        q = 127;
    }
    return (int8_t)q;
}

static void compute_frame(void)
{
    uint32_t i, k = ring_pos, m;
    int8_t *row_q = q_out != NULL ? q_out + frames * MF_FRONTEND_MELS : NULL;
#if MF_FRONTEND_KEEP_FLOAT
    float *row_f = features + frames * MF_FRONTEND_MELS;
#else
    float *row_f = row;
#endif
    /* oldest sample first; int16 / 32768 is exact in float32, as the host's to_float */
    for (i = 0; i < MF_FRONTEND_WIN; i++) {
        fft_buf[i] = (float)ring[k] * (1.0f / 32768.0f) * mf_frontend_window[i];
        if (++k == MF_FRONTEND_WIN) {
            k = 0;
        }
    }
    for (; i < MF_FRONTEND_N_FFT; i++) {
        fft_buf[i] = 0.0f;
    }
    mf_rfft_power(fft_buf, MF_FRONTEND_N_FFT, mf_frontend_twiddle_cos, mf_frontend_twiddle_sin,
                  power);
    for (m = 0; m < MF_FRONTEND_MELS; m++) {
        const float *w = mf_frontend_mel_weights + mf_frontend_mel_offset[m];
        const float *p = power + mf_frontend_mel_start[m];
        uint32_t n = mf_frontend_mel_len[m], j;
        float acc = 0.0f, y;
        for (j = 0; j < n; j++) {
            acc += p[j] * w[j];
        }
        y = logf(acc + MF_FRONTEND_EPS);
#if MF_FRONTEND_NORMALIZED
        y = (y - MF_FRONTEND_MEAN) / MF_FRONTEND_STD;
#endif
        row_f[m] = y;
        if (row_q != NULL) {
            row_q[m] = quantize(y);
        }
    }
    if (frame_hook != NULL) {
        frame_hook(row_f, frames);
    }
    frames++;
    next_frame_end += MF_FRONTEND_HOP;
}

static void take_sample(int16_t s)
{
    ring[ring_pos] = s;
    if (++ring_pos == MF_FRONTEND_WIN) {
        ring_pos = 0;
    }
    used++;
    if (used == next_frame_end) {
        compute_frame();
    }
}

void mf_frontend_begin(int8_t *out)
{
    ring_pos = 0;
    used = 0;
    received = 0;
    frames = 0;
    next_frame_end = MF_FRONTEND_WIN;
    q_out = out;
    open_clip = 1;
}

uint32_t mf_frontend_push(const int16_t *samples, uint32_t n)
{
    uint32_t i;
    if (!open_clip) {
        return frames;
    }
    received += n;
    for (i = 0; i < n && used < MF_FRONTEND_CLIP_SAMPLES; i++) {
        take_sample(samples[i]);
    }
    return frames;
}

uint32_t mf_frontend_end(void)
{
    if (open_clip) {
        /* zeros past the last window change nothing: stop at the last frame */
        while (used < MF_FRONTEND_CLIP_SAMPLES && frames < MF_FRONTEND_FRAMES) {
            take_sample(0);
        }
        open_clip = 0;
    }
    return frames;
}

int mf_frontend_is_open(void)
{
    return open_clip;
}

uint32_t mf_frontend_frames(void)
{
    return frames;
}

uint32_t mf_frontend_samples(void)
{
    return received;
}

const float *mf_frontend_features(void)
{
#if MF_FRONTEND_KEEP_FLOAT
    return features;
#else
    return NULL;
#endif
}

void mf_frontend_on_frame(mf_frontend_frame_fn fn)
{
    frame_hook = fn;
}

int mf_frontend_has_frame_hook(void)
{
    return frame_hook != NULL;
}
