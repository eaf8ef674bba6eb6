/* Depthwise convolution for cores with the Arm DSP extension: the same values as
 * mf_depthwise_conv2d_s8 (depthwise_conv2d.h) for depth multiplier 1, four channels at a time.
 * The generator picks it (mcuforge.ops.depthwise_conv2d.variant) and prepares:
 *
 * - filter: channels in groups of four (zero-padded to c4 = in_c rounded up to 4), each group's
 *   KH*KW taps in turn, four weights per tap: the order the kernel reads them.
 * - q: per group of four channels, 12 int32: the four channels' bias + input_offset * sum of the
 *   channel's weights (so the taps multiply raw int8 values; taps in the padding read the input zero
 *   point instead), then per channel the multiplier and q_hi = (2 * output_offset + 1) * 2^(e-2)
 *   for a right shift by e in [2, 22] (mf_requant.h's mf_requant_folded; multipliers >= 0).
 * - scratch: KH*KW tap pointers, then c4 bytes of zero points; in place (output == input), then
 *   (pad_h + 1) * out_w * in_c bytes of output rows held back (mcuforge.ops._conv_dsp). */
#ifndef MF_DEPTHWISE_CONV2D_DSP_H
#define MF_DEPTHWISE_CONV2D_DSP_H

#include <stdint.h>

#include "mf_dsp.h"
#include "depthwise_conv2d.h"

void mf_depthwise_conv2d_s8_dsp(const mf_depthwise_conv2d_params *p, const int8_t *input, const int8_t *filter,
                                const int32_t *q, void *scratch, int8_t *output);

#endif
