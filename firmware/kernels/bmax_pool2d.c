/* Binary max pooling (see bmax_pool2d.h): OR of the words of the in-image window. */
#include "bmax_pool2d.h"

#include "mf_bits.h"

void mf_bmax_pool2d(const mf_bmax_pool2d_params *params, const uint32_t *input, uint32_t *output)
{
    MF_PARAMS(mf_bmax_pool2d_params, p, params);
    const int32_t words = MF_BITS_WORDS(p->channels);
    const uint32_t last_mask = mf_bits_last_mask(p->channels);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t y_origin = oy * p->stride_h - p->pad_h;
        const int32_t y0 = y_origin < 0 ? 0 : y_origin;
        const int32_t y1 = y_origin + p->filter_h < p->in_h ? y_origin + p->filter_h : p->in_h;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t x_origin = ox * p->stride_w - p->pad_w;
            const int32_t x0 = x_origin < 0 ? 0 : x_origin;
            const int32_t x1 = x_origin + p->filter_w < p->in_w ? x_origin + p->filter_w : p->in_w;
            uint32_t *out = output + (oy * p->out_w + ox) * words;
            for (int32_t w = 0; w < words; ++w) {
                uint32_t acc = 0u; /* an empty window (impossible with TFLite padding) gives all -1 */
                for (int32_t y = y0; y < y1; ++y) {
                    for (int32_t x = x0; x < x1; ++x) {
                        acc |= input[(y * p->in_w + x) * words + w];
                    }
                }
                out[w] = w == words - 1 ? acc & last_mask : acc;
            }
        }
    }
}
