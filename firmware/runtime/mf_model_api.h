/* The model interface the runtime compiles against; the generator emits model.c
 * implementing it (weights in flash, one static arena, no malloc). */
#ifndef MF_MODEL_API_H
#define MF_MODEL_API_H

#include <stdint.h>

enum {
    MF_DTYPE_INT8 = 1,
    MF_DTYPE_UINT8 = 2,
    MF_DTYPE_INT16 = 3,
    MF_DTYPE_INT32 = 4,
    MF_DTYPE_FLOAT32 = 5,
    MF_DTYPE_UINT32 = 6, /* bit-packed binary tensors */
    MF_DTYPE_INT64 = 7   /* exact sums (TinyTrain's Fisher potentials) */
};

typedef struct {
    void *data;
    uint32_t bytes;
    uint8_t dtype; /* MF_DTYPE_* */
} mf_io;

extern const mf_io mf_model_inputs[];
extern const uint32_t mf_model_num_inputs;
extern const mf_io mf_model_outputs[];
extern const uint32_t mf_model_num_outputs;
extern const uint32_t mf_model_num_layers;
extern uint32_t mf_layer_cycles[];       /* filled by invoke, one per layer */
extern const char *const mf_layer_ops[]; /* e.g. "CONV_2D"; texts (MF_TEXT, mf_link.h) */
extern const uint32_t mf_arena_bytes;
extern const char mf_model_name[];    /* a text (MF_CONST) */
extern const char mf_firmware_hash[]; /* 16 hex chars, from generated mf_build_id.h; a text */

/* The arena and its guards. A model defines its arena with MF_ARENA_DEFINE(bytes) and uses
 * mf_arena.bytes: MF_ARENA_GUARD_BYTES of guard on each side are filled with a pattern at
 * boot and checked after every invoke (firmware/runtime/mf_guard.c), so a layer that writes
 * past either end of the arena is reported as an overflow instead of giving a wrong answer.
 * A struct keeps the guards adjacent to the bytes (separate arrays may be placed anywhere). */
#define MF_ARENA_GUARD_BYTES 16u
typedef struct {
    uint8_t *below; /* MF_ARENA_GUARD_BYTES each */
    uint8_t *above;
} mf_arena_guards;
extern const mf_arena_guards mf_model_arena_guards;

#if defined(__GNUC__)
#define MF_ARENA_ALIGNED __attribute__((aligned(16)))
#else
#define MF_ARENA_ALIGNED
#endif
#define MF_ARENA_DEFINE(n)                                                                     \
    static struct {                                                                            \
        uint8_t below[MF_ARENA_GUARD_BYTES];                                                   \
        uint8_t bytes[n];                                                                      \
        uint8_t above[MF_ARENA_GUARD_BYTES];                                                   \
    } mf_arena MF_ARENA_ALIGNED;                                                               \
    const mf_arena_guards mf_model_arena_guards = {mf_arena.below, mf_arena.above}

/* The state tensors (kept across invokes, zeroed by mf_model_reset()): the RNN extension keeps
 * a copy of them for each instance it runs at once. mf_model_num_states may be 0. */
extern const mf_io mf_model_states[];
extern const uint32_t mf_model_num_states;

int mf_model_invoke(void); /* 0 = ok */
/* State tensors to zero, trainable tensors to their flash values (the first invoke does it). */
void mf_model_reset(void);

#endif
