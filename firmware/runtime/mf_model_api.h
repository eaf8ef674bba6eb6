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
    MF_DTYPE_UINT32 = 6 /* bit-packed binary tensors */
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

int mf_model_invoke(void); /* 0 = ok */
/* State tensors to zero, trainable tensors to their flash values (the first invoke does it). */
void mf_model_reset(void);

#endif
