/* Mean over any set of axes of an int8 tensor (up to 4-D), as TFLM's MEAN
 * (QuantizedMeanOrSum: rescaled and rounded, even when input and output quantization match). */
#ifndef MF_MEAN_H
#define MF_MEAN_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t in_dims[4];  /* input shape, padded to 4-D at the front */
    uint8_t reduce[4];   /* 1: averaged over this axis */
    int32_t count;       /* elements averaged into each output */
    int32_t in_zp, out_zp;
    int32_t multiplier;  /* in_scale / (out_scale * count), Q31 ... */
    int32_t shift;       /* ... times 2^shift */
} mf_mean_params;

void mf_mean(const mf_mean_params *p, const int8_t *input, int8_t *output);

#endif
