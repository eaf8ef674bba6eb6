/* MEAN over height and width of a 1xHxWxC int8 tensor (Keras GlobalAveragePooling2D) for cores
 * with the Arm DSP extension: the same values as mf_mean (mean.h). The generator picks it for that
 * reduction (mcuforge.ops.mean.variant); multipliers are never negative (mf_requant.h). */
#ifndef MF_MEAN_DSP_H
#define MF_MEAN_DSP_H

#include <stdint.h>

#include "mean.h"

void mf_mean_hw_s8_dsp(const mf_mean_params *p, const int8_t *input, int8_t *output);

#endif
