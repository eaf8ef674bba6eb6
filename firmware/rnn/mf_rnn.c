/* EMI-RNN windowing, early exit and bag rule around the generated one-step model (mf_rnn.h). */
#include "mf_rnn.h"

#include <string.h>

#include "mf_model_api.h"

#if MF_RNN_LOGITS_F32
#include <math.h>
#else
#include "mf_const.h"
#endif

static mf_rnn_bag bag;

#if MF_RNN_LOGITS_F32
/* The top class (first of equal logits) and whether its softmax probability reaches p_hat:
 * p = 1 / sum_j exp(l_j - l_top), the sum in class order. */
static uint8_t top_class(int *confident)
{
    const float *l = (const float *)mf_model_outputs[0].data;
    uint8_t best = 0, j;
    float sum = 0.0f;
    for (j = 1; j < MF_RNN_CLASSES; ++j) {
        if (l[j] > l[best]) {
            best = j;
        }
    }
    for (j = 0; j < MF_RNN_CLASSES; ++j) {
        sum += expf(l[j] - l[best]);
    }
    *confident = 1.0f / sum >= MF_RNN_P_HAT_F32;
    return best;
}
#else
static const int16_t exp_table[257] MF_CONST = MF_RNN_EXP_TABLE;

/* The same decision on int32 logits (MF_RNN_LOGIT_FRAC fractional bits): exp(-(l_top - l_j))
 * from the Q14 table (differences in Q8, steps of 1/16 interpolated; 0 past 16), summed in
 * class order; confident when the sum is at most MF_RNN_EXIT_SUM_MAX (= 2^14 / p_hat). */
static uint8_t top_class(int *confident)
{
    const int32_t *l = (const int32_t *)mf_model_outputs[0].data;
    uint8_t best = 0, j;
    int32_t sum = 0;
    for (j = 1; j < MF_RNN_CLASSES; ++j) {
        if (l[j] > l[best]) {
            best = j;
        }
    }
    for (j = 0; j < MF_RNN_CLASSES; ++j) {
        /* l_top - l_j in Q8, rounded: exact in uint32 for any two int32 logits */
        const uint32_t diff = (uint32_t)l[best] - (uint32_t)l[j];
        const uint32_t d = (diff >> (MF_RNN_LOGIT_FRAC - 8)) + ((diff >> (MF_RNN_LOGIT_FRAC - 9)) & 1u);
        if (d < 4096u) {
            const int32_t i = (int32_t)(d >> 4), f = (int32_t)(d & 15u), t0 = mf_ld_s16(&exp_table[i]);
            sum += t0 + (((mf_ld_s16(&exp_table[i + 1]) - t0) * f) >> 4);
        }
    }
    *confident = sum <= MF_RNN_EXIT_SUM_MAX;
    return best;
}
#endif

/* An instance ended with class cls after steps: its record and the bag rule, streamed (the
 * longest run of one non-negative class). */
static void finish_instance(uint8_t cls, uint16_t steps)
{
    bag.steps += steps;
    if (bag.instances < MF_RNN_REPORT_INSTANCES) {
        bag.classes[bag.instances] = cls;
        bag.exit_steps[bag.instances] = steps;
    }
    bag.run_len = (bag.instances > 0u && cls == bag.run_class) ? (uint16_t)(bag.run_len + 1u) : 1u;
    bag.run_class = cls;
    if (cls != MF_RNN_NEGATIVE && bag.run_len > bag.best_len) {
        bag.best_len = bag.run_len;
        bag.best_class = cls;
    }
    bag.last_class = cls;
    bag.instances++;
}

/* Step t (0-based) of an instance of n steps just ran: is it an exit? (*cls: its top class) */
static int exits_at(uint16_t t, uint16_t n, uint8_t *cls)
{
    int confident = 0;
    if (!MF_RNN_EARLY_EXIT || (t + 1u) % MF_RNN_KAPPA != 0u || t + 1u >= n) {
        return 0;
    }
    *cls = top_class(&confident);
    return confident && (!MF_RNN_NEGATIVE_ONLY || *cls == MF_RNN_NEGATIVE);
}

/* Instances run side by side, each frame stepping every instance whose window holds it:
 * MF_RNN_SLOTS = ceil(window / stride) of them at most, each with its own copy of the model's
 * state tensors (swapped in around its step), so RAM holds hidden states, not a ring of
 * window frames (32 log-mel bands x 48 steps would be 3 KB; 3 FastGRNN-16 states are 96 B).
 * The same steps as a ring of frames would run, in the same order within an instance. */
typedef struct {
    uint16_t steps;
    uint8_t running, exited, cls;
} instance_slot;

static instance_slot slots[MF_RNN_SLOTS];
#if MF_RNN_SLOTS > 1
static uint8_t slot_state[MF_RNN_SLOTS][MF_RNN_STATE_BYTES > 0u ? MF_RNN_STATE_BYTES : 1u];

static void swap_state(uint8_t slot, int save)
{
    uint32_t i, off = 0;
    for (i = 0; i < mf_model_num_states; ++i) {
        uint8_t *t = (uint8_t *)mf_model_states[i].data;
        if (save) {
            memcpy(&slot_state[slot][off], t, mf_model_states[i].bytes);
        } else {
            memcpy(t, &slot_state[slot][off], mf_model_states[i].bytes);
        }
        off += mf_model_states[i].bytes;
    }
}
#else
static void swap_state(uint8_t slot, int save)
{
    (void)slot; /* one instance at a time: the model's own state is its */
    (void)save;
}
#endif

static uint32_t bag_length;                  /* frames the bag will have (0: not told) */
static uint8_t frame_buf[MF_RNN_FRAME_BYTES]; /* a frame split over chunks, until whole */
static uint16_t frame_fill;

void mf_rnn_begin(uint32_t frames)
{
    memset(&bag, 0, sizeof bag);
    memset(slots, 0, sizeof slots);
    bag_length = frames;
    frame_fill = 0;
    mf_model_reset(); /* the first invoke would reset the state it is given */
}

/* Instance i starts at frame i * stride; past the first, only if its window can complete. */
static void start_instance(uint32_t i)
{
    instance_slot *s = &slots[i % MF_RNN_SLOTS];
    if (i > 0u && bag_length != 0u && i * MF_RNN_STRIDE + MF_RNN_WINDOW > bag_length) {
        return;
    }
    memset(s, 0, sizeof *s);
    s->running = 1;
    mf_model_reset();
    swap_state((uint8_t)(i % MF_RNN_SLOTS), 1);
}

/* Steps the running instances that hold frame f, newest first: the oldest steps last, so the
 * logits left in the output are the oldest's, the instance that completes (or a short bag's). */
static void push_frame(const uint8_t *frame)
{
    const uint32_t f = bag.frames, newest = f / MF_RNN_STRIDE;
    uint32_t i = newest + 1u;
    if (f % MF_RNN_STRIDE == 0u) {
        start_instance(newest);
    }
    bag.frames++;
    while (i-- > 0u && f - i * MF_RNN_STRIDE < MF_RNN_WINDOW) {
        instance_slot *s = &slots[i % MF_RNN_SLOTS];
        const uint16_t t = (uint16_t)(f - i * MF_RNN_STRIDE);
        if (!s->running) {
            continue;
        }
        if (!s->exited) {
            /* the input again for each instance: the arena may reuse its bytes once it is read */
            memcpy(mf_model_inputs[0].data, frame, MF_RNN_FRAME_BYTES);
            swap_state((uint8_t)(i % MF_RNN_SLOTS), 0);
            (void)mf_model_invoke();
            swap_state((uint8_t)(i % MF_RNN_SLOTS), 1);
            s->steps++;
            s->exited = (uint8_t)exits_at(t, MF_RNN_WINDOW, &s->cls);
        }
        if (t + 1u == MF_RNN_WINDOW) { /* its window is complete: it counts, in start order */
            int confident;
            finish_instance(s->exited ? s->cls : top_class(&confident), s->steps);
            s->running = 0;
        }
    }
}

void mf_rnn_push(const uint8_t *bytes, uint32_t n)
{
    while (n > 0u) {
        uint32_t take = MF_RNN_FRAME_BYTES - frame_fill;
        if (frame_fill == 0u && n >= MF_RNN_FRAME_BYTES) { /* a whole frame in place */
            push_frame(bytes);
            bytes += MF_RNN_FRAME_BYTES;
            n -= MF_RNN_FRAME_BYTES;
            continue;
        }
        take = take < n ? take : n;
        memcpy(&frame_buf[frame_fill], bytes, take);
        frame_fill = (uint16_t)(frame_fill + take);
        bytes += take;
        n -= take;
        if (frame_fill == MF_RNN_FRAME_BYTES) {
            frame_fill = 0;
            push_frame(frame_buf);
        }
    }
}

uint32_t mf_rnn_bytes(void)
{
    return bag.frames * MF_RNN_FRAME_BYTES + frame_fill;
}

/* A bag shorter than a window: instance 0 over all its frames, decided now. */
static void end_short_bag(void)
{
    int confident;
    const instance_slot *s = &slots[0];
    finish_instance(s->exited ? s->cls : top_class(&confident), s->steps);
}

uint8_t mf_rnn_end(void)
{
    uint16_t k;
    if (bag.instances == 0u && bag.frames > 0u) {
        end_short_bag(); /* shorter than a window: one instance of all its frames */
    }
    if (!MF_RNN_BAG_RULE) {
        return bag.last_class;
    }
    k = MF_RNN_K < bag.instances ? MF_RNN_K : bag.instances;
    return bag.best_len >= k ? bag.best_class : (uint8_t)MF_RNN_NEGATIVE;
}

const mf_rnn_bag *mf_rnn_state(void)
{
    return &bag;
}
