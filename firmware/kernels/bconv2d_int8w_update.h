/* Backward of the BNN's last conv (1x1 stride-1 bconv2d_int8w) through its global average pool:
 * one in-place step of a trained slice of its output channels from the float32 gradient of the
 * embedding (toolchain/ops/bconv2d_int8w_update.py gives the formulas; bit-exact with it). Row j
 * of filter/residual/offset is output channel channels[j]; step_mult/step_shift are per row. */
#ifndef MF_BCONV2D_INT8W_UPDATE_H
#define MF_BCONV2D_INT8W_UPDATE_H

#include <stdint.h>

#include "mf_const.h"

typedef struct {
    int32_t positions;           /* OH * OW, the pool's positions */
    int32_t out_c, in_c;         /* the layer's output channels, its input channels (bits) */
    int32_t n_channels;          /* rows of the trained slice */
    float inv_count;             /* float32(1 / positions), as mean_f32 */
    float inv_grad_scale;        /* 1 / the int8 gradient's scale */
    float offset_lr;             /* learning rate of the folded BN offset */
} mf_bconv2d_int8w_update_params;

void mf_bconv2d_int8w_update(const mf_bconv2d_int8w_update_params *p, const float *grad_embedding,
                             const float *output, const uint32_t *input, int8_t *filter, int16_t *residual,
                             float *offset, const float *scale, const int32_t *step_mult,
                             const int32_t *step_shift, const int16_t *channels);

#endif
