/* Fully connected layer for cores with the Arm DSP extension: a 1x1 convolution over `batches`
 * pixels of `accum_depth` channels, so the generator calls mf_conv2d_s8_dsp for it
 * (mcuforge.ops._conv_dsp.emit_fully_connected; symmetric weights only). */
#ifndef MF_FULLY_CONNECTED_DSP_H
#define MF_FULLY_CONNECTED_DSP_H

#include "conv2d_dsp.h"

#endif
