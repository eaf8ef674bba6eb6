/* Backward of the int8 2-D convolution: gradient w.r.t. its input (a transposed convolution).
 * grad_in[iy][ix][ci] = sum of W[co][ky][kx][ci] * dz[oy][ox][co] over the output pixels and taps
 * that read (iy, ix); dz the output gradient through the forward clamp, per-channel filter scales
 * as Q16 ratios (mf_train.h). Layouts as the forward kernel (HWC, OHWI); the filter may be a flash
 * constant or a trainable RAM copy. Bit-exact with toolchain/ops/conv2d_grad_input.py. */
#ifndef MF_CONV2D_GRAD_INPUT_H
#define MF_CONV2D_GRAD_INPUT_H

#include <stdint.h>

#include "mf_train.h"

typedef struct {
    mf_window win;               /* in: the forward input (= this gradient's output), out: the forward output */
    int32_t in_c, out_c;
    int32_t multiplier, shift;   /* s_g * max s_W / s_gx, Q31 */
} mf_conv2d_grad_input_params;

void mf_conv2d_grad_input_s8(const mf_conv2d_grad_input_params *p, const int8_t *grad_out, const int8_t *output,
                             const int8_t *filter, const int32_t *ratio, int8_t *grad_in);

#endif
