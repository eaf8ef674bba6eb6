/* The model behind the firmware fuzz target (host) and the bounds and guard tests (QEMU),
 * shaped for the extensions: input 0 is the front end's frames x mels int8 (and one frame of
 * the RNN), output 0 a float32 embedding of MF_HEAD_DIM values for the learning head (its
 * first values the RNN's logits).
 *   out0[k] = (sum of in0[i] over i = k mod DIM) / 128,   out1 = sum(in0) + sum(in1)
 * Test hooks, when in1[0] == 0x0A0A: in1[1] == 0x0F0F writes one byte past the arena (an
 * arena overflow), 0x0D0D takes 2 KB more stack, 0x0B0B (Cortex-M) writes a word at the
 * stack block's end (as a stack that overflowed would). */
#include <stdint.h>

#include "mf_build_id.h"
#include "mf_frontend_config.h"
#include "mf_head_config.h"
#include "mf_model_api.h"
#include "mf_profile.h"

#define N_IN0 ((uint32_t)MF_FRONTEND_FRAMES * MF_FRONTEND_MELS)
#define N_IN1 4u
#define OFF_IN1 ((N_IN0 + 3u) & ~3u)
#define OFF_OUT0 (OFF_IN1 + 2u * N_IN1)
#define OFF_OUT1 (OFF_OUT0 + 4u * MF_HEAD_DIM)
#define ARENA_BYTES (OFF_OUT1 + 4u)

MF_ARENA_DEFINE(ARENA_BYTES);

#define IN0 ((int8_t *)mf_arena.bytes)
#define IN1 ((int16_t *)(mf_arena.bytes + OFF_IN1))
#define OUT0 ((float *)(mf_arena.bytes + OFF_OUT0))
#define OUT1 ((int32_t *)(mf_arena.bytes + OFF_OUT1))

const mf_io mf_model_inputs[] = {
    {mf_arena.bytes, N_IN0, MF_DTYPE_INT8},
    {mf_arena.bytes + OFF_IN1, 2u * N_IN1, MF_DTYPE_INT16},
};
const uint32_t mf_model_num_inputs = 2;
const mf_io mf_model_outputs[] = {
    {mf_arena.bytes + OFF_OUT0, 4u * MF_HEAD_DIM, MF_DTYPE_FLOAT32},
    {mf_arena.bytes + OFF_OUT1, 4u, MF_DTYPE_INT32},
};
const uint32_t mf_model_num_outputs = 2;
const mf_io mf_model_states[] = {{0, 0u, 0}}; /* none: the RNN's instances share nothing to swap */
const uint32_t mf_model_num_states = 0;
const uint32_t mf_model_num_layers = 2;
uint32_t mf_layer_cycles[2];
const char *const mf_layer_ops[] = {"EMBED", "SUM"};
const uint32_t mf_arena_bytes = ARENA_BYTES;
const char mf_model_name[] = "fuzz_model";
const char mf_firmware_hash[] = MF_BUILD_ID;

static int32_t deep_stack_sum(void)
{
    volatile uint8_t big[2048];
    uint32_t i;
    int32_t s = 0;
    for (i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t)i;
    }
    for (i = 0; i < sizeof(big); i += 512u) {
        s += big[i];
    }
    return s;
}

#if defined(__arm__)
extern uint32_t _sstack[];
#endif

/* A test hook: 0 = none, else its extra term for out1. */
static int32_t run_hook(void)
{
    uint8_t *volatile past_end = mf_arena.bytes + ARENA_BYTES; /* volatile: no bounds known */
    if ((uint16_t)IN1[0] != 0x0A0Au) {
        return 0;
    }
    switch ((uint16_t)IN1[1]) {
    case 0x0F0Fu:
        past_end[0] ^= 0xFFu;
        return 0;
    case 0x0D0Du:
        return deep_stack_sum();
#if defined(__arm__)
    case 0x0B0Bu:
        _sstack[1] = 0;
        return 0;
#endif
    default:
        return 0;
    }
}

/* No state tensors: the RNN extension's reset before each instance has nothing to zero. */
void mf_model_reset(void) {}

int mf_model_invoke(void)
{
    uint32_t i, k;
    int32_t sum = 0;
    MF_LAYER_BEGIN(0);
    for (k = 0; k < MF_HEAD_DIM; k++) {
        int32_t acc = 0;
        for (i = k; i < N_IN0; i += MF_HEAD_DIM) {
            acc += IN0[i];
        }
        OUT0[k] = (float)acc / 128.0f;
    }
    MF_LAYER_END(0);
    MF_LAYER_BEGIN(1);
    for (i = 0; i < N_IN0; i++) {
        sum += IN0[i];
    }
    for (i = 0; i < N_IN1; i++) {
        sum += IN1[i];
    }
    OUT1[0] = sum + run_hook();
    MF_LAYER_END(1);
    return 0;
}
