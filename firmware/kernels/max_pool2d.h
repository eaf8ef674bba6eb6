/* Max pooling, int8 NHWC, as TFLM's reference_integer_ops::MaxPool. */
#ifndef MF_MAX_POOL2D_H
#define MF_MAX_POOL2D_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t batches, in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;     /* padding before the first row / column */
    int32_t act_min, act_max; /* fused activation clamp, in output units */
} mf_max_pool2d_params;

/* Input and output share one quantization; padded pixels never win. */
void mf_max_pool2d(const mf_max_pool2d_params *p, const int8_t *input, int8_t *output);

#endif
