/* Streaming log-mel front end (mirrors mcuforge.data.features.FeatureConfig.extract).
 *
 * Audio arrives as int16 16 kHz samples in chunks of any size. Only one window of samples
 * is kept (a ring of MF_FRONTEND_WIN); each time a hop of new samples completes a window,
 * one frame is computed: periodic Hann window -> zero-padded real FFT -> power -> HTK mel
 * filterbank -> log(x + eps) -> optional (x - mean) / std -> int8 with the model input's
 * scale and zero point (round half away from zero, clamp), written at frame x mels.
 *
 * The sizes and tables come from the generated mf_frontend_config.h
 * (mcuforge.frontend.config.render_frontend_config). */
#ifndef MF_FRONTEND_H
#define MF_FRONTEND_H

#include <stdint.h>

#include "mf_frontend_config.h"

/* Keep the float features of the last clip (MF_FRONTEND_FRAMES x MF_FRONTEND_MELS x 4
 * bytes of RAM) for READ_FEATURES; on by default (emulated boards), 0 saves the RAM. */
#ifndef MF_FRONTEND_KEEP_FLOAT
#define MF_FRONTEND_KEEP_FLOAT 1
#endif

#define MF_FRONTEND_VALUES ((uint32_t)MF_FRONTEND_FRAMES * (uint32_t)MF_FRONTEND_MELS)

#if MF_FRONTEND_N_FFT < 4 || (MF_FRONTEND_N_FFT & (MF_FRONTEND_N_FFT - 1)) != 0
#error "MF_FRONTEND_N_FFT must be a power of two >= 4"
#endif
#if MF_FRONTEND_WIN < 1 || MF_FRONTEND_WIN > MF_FRONTEND_N_FFT
#error "MF_FRONTEND_WIN must be in 1..MF_FRONTEND_N_FFT"
#endif
#if MF_FRONTEND_HOP < 1 || MF_FRONTEND_CLIP_SAMPLES < MF_FRONTEND_WIN
#error "need MF_FRONTEND_HOP >= 1 and MF_FRONTEND_CLIP_SAMPLES >= MF_FRONTEND_WIN"
#endif
#if MF_FRONTEND_FRAMES != 1 + (MF_FRONTEND_CLIP_SAMPLES - MF_FRONTEND_WIN) / MF_FRONTEND_HOP
#error "MF_FRONTEND_FRAMES does not match the clip length, window and hop"
#endif

/* Starts a clip: forgets the previous one. out: MF_FRONTEND_VALUES int8 (frames x mels),
 * e.g. the model's input tensor; 0 computes the float features only. */
void mf_frontend_begin(int8_t *out);
/* Feeds n samples; computes every frame they complete. Samples past
 * MF_FRONTEND_CLIP_SAMPLES are counted but not used (the clip is cut, as on the host).
 * Returns the frames computed so far. Ignored when no clip is open. */
uint32_t mf_frontend_push(const int16_t *samples, uint32_t n);
/* Ends the clip: a short clip is zero-padded to MF_FRONTEND_CLIP_SAMPLES (as the host's
 * fit_length), so every frame gets computed. Returns the frame count. */
uint32_t mf_frontend_end(void);
int mf_frontend_is_open(void);
uint32_t mf_frontend_frames(void);
/* Samples received in the current/last clip, including the ones cut. */
uint32_t mf_frontend_samples(void);
/* Float features (frames x mels, normalized if configured) of the last clip, or 0 when
 * built with MF_FRONTEND_KEEP_FLOAT 0. */
const float *mf_frontend_features(void);

/* Called with each frame's float features (MF_FRONTEND_MELS values, normalized if configured)
 * as soon as the frame completes, index from 0: a model that steps per frame (firmware/rnn/)
 * takes them from here, one at a time. With a hook set, AUDIO_BEGIN writes no model input.
 * 0 removes it. */
typedef void (*mf_frontend_frame_fn)(const float *mels, uint32_t index);
void mf_frontend_on_frame(mf_frontend_frame_fn fn);
int mf_frontend_has_frame_hook(void);

/* Registers the link messages (mf_frontend_link.c); called by the generated
 * mf_extensions.c when a project enables the "frontend" extension. */
void mf_ext_frontend_register(void);

#endif
