/* TinyTrain's choice on the board (Kwon et al. 2024): from the Fisher-potential sums of the
 * candidate layers (fisher_potential.h), the layers in descending score s_i = factor_i * sum_o
 * sums_i[o] (factor_i: the layer's (s_a s_g)^2 / (|W_i|/max|W| * M_i/max M), from generation;
 * scores in double), each taking as many of its output channels as the memory and MAC budgets
 * left allow (the cost model of toolchain/train/tinytrain.py's update_cost with the kept
 * activations), then, inside each layer, its channels with the largest sums (ties: the lower
 * channel). chosen[] gets 1 for a chosen channel, 0 else, layer after layer. Bit-exact with
 * toolchain/ops/tinytrain_select.py where double is IEEE binary64 (Cortex-M, hosts; avr-gcc 5.4
 * makes double a float, so on the AVR scores round otherwise). */
#ifndef MF_TINYTRAIN_SELECT_H
#define MF_TINYTRAIN_SELECT_H

#include <stdint.h>

#include "mf_const.h"

#define MF_TINYTRAIN_MAX_LAYERS 64

enum { MF_TT_CHANNELS, MF_TT_PARAMS, MF_TT_KEPT, MF_TT_CHANNEL_MACS, MF_TT_GRAD_MACS, MF_TT_FIELDS };

typedef struct {
    int32_t layers;                   /* candidate layers, in network order */
    int32_t budget_ram, budget_macs;
} mf_tinytrain_select_params;

/* layer: layers x MF_TT_FIELDS int32 (channels, trained-weight bytes, kept bytes, MACs of one channel's update,
 * MACs of its input gradient); factor: the score factor of each layer; sums: each layer's int64
 * sums. */
void mf_tinytrain_select(const mf_tinytrain_select_params *p, const int32_t *layer, const float *factor,
                         const int64_t *const *sums, int8_t *chosen);

#endif
