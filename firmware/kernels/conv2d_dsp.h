/* 2-D convolution for cores with the Arm DSP extension (Cortex-M4/M7/M33): the same values as
 * mf_conv2d_s8 (conv2d.h), two multiply-adds per SMLAD. The generator picks it for such boards
 * (mcuforge.ops.conv2d.variant) and lays the filter out for it (mcuforge.ops._conv_dsp):
 *
 * - filter: output channels in pairs (an odd count gets a zero partner); each channel's
 *   KH*KW*Cin weights (OHWI order) zero-padded to k4, a multiple of 4; the pair's two channels
 *   interleaved 4 weights at a time: ch0 w[0..4), ch1 w[0..4), ch0 w[4..8), ...; 4-byte aligned.
 * - q: per channel pair, six int32: the two channels' bias + input_offset * sum(weights) (wrapping
 *   int32, so the inner loop multiplies raw int8 values; taps in the zero padding read the input zero
 *   point), then for each channel its multiplier and q_hi = (2 * output_offset + 1) * 2^(e-2) for a
 *   right shift by e in [2, 22] (mf_requant.h's mf_requant_folded; multipliers >= 0).
 * - scratch: 2 * k4 int16 (im2col of two output pixels). */
#ifndef MF_CONV2D_DSP_H
#define MF_CONV2D_DSP_H

#include <stdint.h>

#include "mf_dsp.h"
#include "conv2d.h"

void mf_conv2d_s8_dsp(const mf_conv2d_params *p, int32_t k4, const int8_t *input, const int8_t *filter,
                      const int32_t *q, int16_t *scratch, int8_t *output);

#endif
