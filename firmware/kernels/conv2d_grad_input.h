/* Backward of the int8 2-D convolution: gradient w.r.t. its input (a transposed convolution).
 * grad_in[iy][ix][ci] = sum of W[co][ky][kx][ci] * dz[oy][ox][co] over the output pixels and taps
 * that read (iy, ix); dz the output gradient through the forward clamp, per-channel filter scales
 * as Q16 ratios (mf_train.h). Layouts as the forward kernel (HWC, OHWI); the filter may be a flash
 * constant or a trainable RAM copy. Bit-exact with toolchain/ops/conv2d_grad_input.py. */
#ifndef MF_CONV2D_GRAD_INPUT_H
#define MF_CONV2D_GRAD_INPUT_H

#include <stdint.h>

#include "mf_const.h"

typedef struct {
    int32_t in_h, in_w, in_c;    /* the forward input (= this gradient's output) */
    int32_t out_h, out_w, out_c; /* the forward output (= the incoming gradient) */
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;        /* the forward layer's leading padding */
    int32_t act_min, act_max;    /* the forward output clamp */
    int32_t multiplier, shift;   /* s_g * max s_W / s_gx, Q31 */
} mf_conv2d_grad_input_params;

void mf_conv2d_grad_input_s8(const mf_conv2d_grad_input_params *p, const int8_t *grad_out, const int8_t *output,
                             const int8_t *filter, const int32_t *ratio, int8_t *grad_in);

#endif
