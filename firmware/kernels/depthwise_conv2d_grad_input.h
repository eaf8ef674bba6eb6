/* Backward of the int8 depthwise 2-D convolution: gradient w.r.t. its input. Input channel c
 * collects W[ky][kx][c*M+m] * dz[oy][ox][c*M+m] over its M output channels and the (output pixel,
 * tap) pairs that read it; dz through the forward clamp, per-channel filter scales as Q16 ratios
 * (mf_train.h). Layouts as the forward kernel. Bit-exact with
 * toolchain/ops/depthwise_conv2d_grad_input.py. */
#ifndef MF_DEPTHWISE_CONV2D_GRAD_INPUT_H
#define MF_DEPTHWISE_CONV2D_GRAD_INPUT_H

#include <stdint.h>

#include "mf_train.h"

typedef struct {
    mf_window win;
    int32_t in_c, depth_multiplier;
    int32_t multiplier, shift;   /* s_g * max s_W / s_gx, Q31 */
} mf_depthwise_conv2d_grad_input_params;

void mf_depthwise_conv2d_grad_input_s8(const mf_depthwise_conv2d_grad_input_params *p, const int8_t *grad_out,
                                       const int8_t *output, const int8_t *filter, const int32_t *ratio,
                                       int8_t *grad_in);

#endif
