#include "max_pool2d.h"

#include "mf_quant.h"

void mf_max_pool2d(const mf_max_pool2d_params *params, const int8_t *input, int8_t *output)
{
    MF_PARAMS(mf_max_pool2d_params, p, params);
    int32_t b, oy, ox, c, y, x;

    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y_origin = oy * p->stride_h - p->pad_h;
            const int32_t y0 = y_origin < 0 ? 0 : y_origin;
            const int32_t y1 = y_origin + p->filter_h < p->in_h ? y_origin + p->filter_h : p->in_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x_origin = ox * p->stride_w - p->pad_w;
                const int32_t x0 = x_origin < 0 ? 0 : x_origin;
                const int32_t x1 = x_origin + p->filter_w < p->in_w ? x_origin + p->filter_w : p->in_w;
                for (c = 0; c < p->channels; ++c) {
                    int32_t max = INT8_MIN;
                    for (y = y0; y < y1; ++y) {
                        for (x = x0; x < x1; ++x) {
                            const int32_t v = in_b[(y * p->in_w + x) * p->channels + c];
                            max = v > max ? v : max;
                        }
                    }
                    *output++ = (int8_t)mf_clamp(max, p->act_min, p->act_max);
                }
            }
        }
    }
}
