#include "avg_pool2d.h"

#include "mf_quant.h"

void mf_avg_pool2d(const mf_avg_pool2d_params *params, const int8_t *input, int8_t *output)
{
    MF_PARAMS(mf_avg_pool2d_params, p, params);
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
                const int32_t count = (y1 - y0) * (x1 - x0);
                for (c = 0; c < p->channels; ++c) {
                    int32_t acc = 0;
                    for (y = y0; y < y1; ++y) {
                        for (x = x0; x < x1; ++x) {
                            acc += in_b[(y * p->in_w + x) * p->channels + c];
                        }
                    }
                    if (count > 0) {
                        /* Round half away from zero; C division truncates toward zero. */
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    *output++ = (int8_t)mf_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
