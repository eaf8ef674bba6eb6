/* QUANTIZE: float32 -> int8, or int8 -> int8 requantization, as TFLM's quantize.cc. */
#ifndef MF_QUANTIZE_H
#define MF_QUANTIZE_H

#include <stdint.h>

#include "mf_const.h" /* parameter structs and weights are MF_CONST */

typedef struct {
    int32_t size;       /* elements */
    float scale;        /* output scale */
    int32_t zero_point; /* output zero point */
} mf_quantize_params;

typedef struct {
    int32_t size;       /* elements */
    int32_t in_zp, out_zp;
    int32_t multiplier; /* in_scale / out_scale, Q31 */
    int32_t shift;
} mf_requantize_params;

/* q = round(x / scale) + zero_point, clamped to int8; rounding half away from zero. */
void mf_quantize(const mf_quantize_params *p, const float *input, int8_t *output);

/* q = (x - in_zp) * in_scale / out_scale + out_zp, clamped to int8. */
void mf_requantize(const mf_requantize_params *p, const int8_t *input, int8_t *output);

#endif
