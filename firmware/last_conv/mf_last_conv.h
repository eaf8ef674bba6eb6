/* Learning below the head (extension "last_conv"): the BNN's int8 1x1 last conv and its global
 * average pool run here, on the packed bits the model leaves in output 0 (the model is the BNN
 * cut before its last conv), with a slice of output channels trained in RAM while the head learns.
 *
 * For each labelled sample: the embedding with the trained slice (and, for LwF, the frozen
 * network's embedding as the teacher) -> the head's rule, which hands back the embedding's
 * gradient W^T e -> one step of the slice (bconv2d_int8w_update, one channel at a time, so the
 * ReLU's pass is kept as one bit per position). The numpy twin is
 * toolchain/learning/last_conv.py (LastConvLearner): bit for bit. Sizes and constants come from
 * the generated mf_last_conv_config.h; no malloc. */
#ifndef MF_LAST_CONV_H
#define MF_LAST_CONV_H

#include <stdint.h>

#include "mf_last_conv_config.h"

#if MF_LC_CHANNELS < 1 || MF_LC_CHANNELS > MF_LC_OUT_C
#error "MF_LC_CHANNELS must be in 1..MF_LC_OUT_C"
#endif

/* The trained slice: row j is output channel mf_lc_channels[j]. Floats first, so no padding between
 * the fields; an odd row count x MF_LC_IN_C leaves up to 3 bytes of tail padding (LAST_CONV_INFO's
 * state_bytes counts them). */
typedef struct {
    float offset[MF_LC_CHANNELS];                   /* folded BatchNorm offset b_c */
    int16_t residual[MF_LC_CHANNELS * MF_LC_IN_C];  /* the master copy's residual (1/65536 units) */
    int8_t filter[MF_LC_CHANNELS * MF_LC_IN_C];     /* int8 weights */
} mf_last_conv_state;

extern mf_last_conv_state mf_last_conv;

/* The slice back to the flash weights; training and the teacher back to their defaults. */
void mf_last_conv_reset(void);
/* The embedding [MF_LC_OUT_C] from the packed features [MF_LC_POSITIONS x MF_LC_WORDS] with the
 * trained slice, and (teacher != 0) the frozen network's. Keeps what the step needs. */
void mf_last_conv_embed(const uint32_t *features, float *embedding, float *teacher);
/* One step of the slice from the embedding's gradient, on the features of the last embed. */
void mf_last_conv_step(const float *grad_embedding);
/* Whether TRAIN steps the slice, and whether LwF's teacher is the frozen network's embedding. */
int mf_last_conv_training(void);
int mf_last_conv_teacher(void);
/* Bytes the extension keeps in RAM (state, kept mask, scratch). */
uint32_t mf_last_conv_ram_bytes(void);

#endif
