/* TinyTrain's layer and channel choice under the budgets, on the board. */
#include "tinytrain_select.h"

static int32_t field(const int32_t *layer, int32_t i, int32_t f)
{
    return mf_ld_s32(&layer[i * MF_TT_FIELDS + f]);
}

/* Memory and MACs of training take[i] channels of each layer (0: not trained). */
static int fits(const mf_tinytrain_select_params *p, const int32_t *layer, const int16_t *take)
{
    int32_t earliest = -1;
    int64_t ram = 0, macs = 0;
    for (int32_t i = 0; i < p->layers; ++i) {
        if (take[i] > 0) {
            earliest = earliest < 0 ? i : earliest;
            ram += field(layer, i, MF_TT_PARAMS);
            macs += (int64_t)take[i] * field(layer, i, MF_TT_CHANNEL_MACS);
        }
    }
    for (int32_t i = earliest; i >= 0 && i < p->layers; ++i) {
        ram += field(layer, i, MF_TT_KEPT);
        macs += i > earliest ? field(layer, i, MF_TT_GRAD_MACS) : 0;
    }
    return ram <= p->budget_ram && macs <= p->budget_macs;
}

void mf_tinytrain_select(const mf_tinytrain_select_params *params, const int32_t *layer, const float *factor,
                         const int64_t *const *sums, int8_t *chosen)
{
    MF_PARAMS(mf_tinytrain_select_params, p, params);
    double score[MF_TINYTRAIN_MAX_LAYERS];
    int16_t order[MF_TINYTRAIN_MAX_LAYERS], take[MF_TINYTRAIN_MAX_LAYERS];
    for (int32_t i = 0; i < p->layers; ++i) {
        double total = 0.0;
        for (int32_t o = 0; o < field(layer, i, MF_TT_CHANNELS); ++o) {
            total += (double)sums[i][o];
        }
        score[i] = (double)mf_ld_f32(&factor[i]) * total;
        take[i] = 0;
        int32_t j = i;  /* insertion sort, descending, stable */
        while (j > 0 && score[order[j - 1]] < score[i]) {
            order[j] = order[j - 1];
            --j;
        }
        order[j] = (int16_t)i;
    }
    for (int32_t r = 0; r < p->layers; ++r) {
        const int16_t i = order[r];
        for (int32_t k = field(layer, i, MF_TT_CHANNELS); k > 0; --k) {
            take[i] = (int16_t)k;
            if (fits(p, layer, take)) {
                break;
            }
            take[i] = 0;
        }
    }
    int8_t *out = chosen;
    for (int32_t i = 0; i < p->layers; ++i) {
        const int32_t c = field(layer, i, MF_TT_CHANNELS);
        for (int32_t o = 0; o < c; ++o) {
            out[o] = 0;
        }
        for (int32_t n = 0; n < take[i]; ++n) {  /* the largest sum not taken yet, lowest channel on ties */
            int32_t best = -1;
            for (int32_t o = 0; o < c; ++o) {
                if (!out[o] && (best < 0 || sums[i][o] > sums[i][best])) {
                    best = o;
                }
            }
            out[best] = 1;
        }
        out += c;
    }
}
