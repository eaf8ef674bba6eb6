/* A float32 dense layer: y = b + x W (W row-major [in][out], as Keras stores a Dense kernel).
 * The rows of W are added in order, one float32 multiply-add at a time (mf_matvec_f32.h), so
 * the numpy twin (toolchain/ops/dense_f32.py) gets the same outputs bit for bit. The RNN
 * classifier applied after every step of a recurrent cell. */
#ifndef MF_DENSE_F32_H
#define MF_DENSE_F32_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t inputs;
    int32_t outputs;
} mf_dense_f32_params;

void mf_dense_f32(const mf_dense_f32_params *p, const float *x, const float *w, const float *b, float *y);

#endif
