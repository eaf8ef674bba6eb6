/* Depthwise 2-D convolution, int8 (TFLite DEPTHWISE_CONV_2D, batch 1).
 * Layouts: input HWC, filter 1 x KH x KW x (C*M), output HW(C*M); output channel c*M+m
 * reads input channel c. Bit-exact with TFLM's reference DepthwiseConvPerChannel. */
#ifndef MF_DEPTHWISE_CONV2D_H
#define MF_DEPTHWISE_CONV2D_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int16_t in_h, in_w, in_c;
    int16_t out_h, out_w;
    int16_t depth_multiplier;    /* M: output channels per input channel */
    int16_t filter_h, filter_w;
    int16_t stride_h, stride_w;
    int16_t dilation_h, dilation_w;
    int16_t pad_h, pad_w;        /* leading padding (top, left) */
    int32_t input_offset;        /* -input zero point */
    int32_t output_offset;       /* output zero point */
    int32_t act_min, act_max;    /* fused activation clamp */
    uint8_t per_channel;         /* 1: mult/shift per output channel, 0: one value */
} mf_depthwise_conv2d_params;

/* bias may be NULL. mult/shift hold in_c*M values if per_channel, else 1. */
void mf_depthwise_conv2d_s8(const mf_depthwise_conv2d_params *p, const int8_t *input,
                            const int8_t *filter, const int32_t *bias, const int32_t *mult,
                            const int32_t *shift, int8_t *output);

/* The same result from the plain reference loop (slow; for tests and as documentation). */
void mf_depthwise_conv2d_s8_ref(const mf_depthwise_conv2d_params *p, const int8_t *input,
                                const int8_t *filter, const int32_t *bias, const int32_t *mult,
                                const int32_t *shift, int8_t *output);

#endif
