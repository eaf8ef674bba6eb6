/* EMI-RNN inference on the device (Dennis et al., NeurIPS 2018): the windowing around the
 * generated model, whose one invoke is one step of the recurrent cell plus its classifier
 * (frame -> cell -> logits; the hidden state is a state tensor of the arena).
 *
 * Frames of a bag (a long signal) arrive in chunks of any size (a frame may be split over
 * chunks). An instance starts every MF_RNN_STRIDE frames (past the first, only if its window of
 * MF_RNN_WINDOW frames fits the bag's length when the host gave it) from a zero state and
 * steps through its window's frames as they arrive; instances whose windows overlap run side
 * by side, each with its own copy of the model's state tensors (mf_model_states), so no
 * frames are kept. With early exit, after every MF_RNN_KAPPA steps (not the last) the instance stops
 * when the top softmax probability reaches MF_RNN_P_HAT (and, with MF_RNN_NEGATIVE_ONLY, the
 * top class is the negative one); otherwise the last step's top class is the instance's.
 * A bag ends with the bag rule: the class of the longest run of equal non-negative instance
 * classes if it is at least min(MF_RNN_K, instances) long (ties: the earlier run), else the
 * negative class; without the rule, the last instance's class. A bag shorter than a window
 * is one instance over all its frames. An instance counts once its window is complete, in
 * start order, whenever it exited.
 *
 * Sizes and settings: the generated mf_rnn_config.h. The numpy twin of every decision here is
 * toolchain/rnn/reference.py. */
#ifndef MF_RNN_H
#define MF_RNN_H

#include <stdint.h>

#include "mf_rnn_config.h"

typedef struct {
    uint32_t frames;    /* received in this bag */
    uint16_t instances; /* run so far */
    uint32_t steps;     /* cell steps executed (what early exit saves) */
    uint8_t last_class;
    uint8_t best_class; /* bag rule: class and length of the longest run */
    uint16_t best_len;
    uint8_t run_class;
    uint16_t run_len;
    uint8_t classes[MF_RNN_REPORT_INSTANCES]; /* the first instances' classes and exit steps */
    uint16_t exit_steps[MF_RNN_REPORT_INSTANCES];
} mf_rnn_bag;

/* Starts a bag of `frames` frames (0: length not known; instances that cannot complete then
 * run too, uncounted). Forgets the last bag. */
void mf_rnn_begin(uint32_t frames);
/* Adds the next n bytes of the bag's frames (MF_RNN_FRAME_BYTES each, the model input's
 * layout); steps the instances as each frame completes. */
void mf_rnn_push(const uint8_t *bytes, uint32_t n);
/* Bytes of frames received in this bag. */
uint32_t mf_rnn_bytes(void);
/* Ends the bag (a bag shorter than a window runs its one instance now) and returns its class. */
uint8_t mf_rnn_end(void);
const mf_rnn_bag *mf_rnn_state(void);

#endif
