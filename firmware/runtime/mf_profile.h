/* Per-layer timing for the generated invoke:
 *     MF_LAYER_BEGIN(3); mf_conv2d(...); MF_LAYER_END(3);
 * fills mf_layer_cycles[3] with mf_cycles_now() ticks. MF_PROFILE 0 (mf_config.h) drops it. */
#ifndef MF_PROFILE_H
#define MF_PROFILE_H

#include <stdint.h>

#include "mf_config.h"
#include "mf_cycles.h"
#include "mf_model_api.h"

#ifndef MF_PROFILE
#define MF_PROFILE 1
#endif

#if MF_PROFILE
extern uint32_t mf_profile_t0; /* start of the layer being timed (one at a time) */
#define MF_LAYER_BEGIN(i) (mf_profile_t0 = mf_cycles_now())
#define MF_LAYER_END(i) (mf_layer_cycles[(i)] = mf_cycles_now() - mf_profile_t0)
#else
#define MF_LAYER_BEGIN(i) ((void)0)
#define MF_LAYER_END(i) ((void)0)
#endif

#endif
