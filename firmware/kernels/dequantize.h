/* DEQUANTIZE: int8 -> float32, as TFLM's Dequantize. */
#ifndef MF_DEQUANTIZE_H
#define MF_DEQUANTIZE_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t size;       /* elements */
    float scale;
    int32_t zero_point;
} mf_dequantize_params;

/* x = scale * (q - zero_point), one float multiply per element. */
void mf_dequantize(const mf_dequantize_params *p, const int8_t *input, float *output);

#endif
