/* EMI-RNN windowing, early exit and bag rule around the generated one-step model (mf_rnn.h). */
#include "mf_rnn.h"

#include <string.h>

#include "mf_model_api.h"

#if MF_RNN_LOGITS_F32
#include <math.h>
#else
#include "mf_const.h"
#endif

#define MF_RNN_STREAM (MF_RNN_STRIDE >= MF_RNN_WINDOW) /* instances do not overlap: no ring */

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

static void step(const uint8_t *frame)
{
    memcpy(mf_model_inputs[0].data, frame, MF_RNN_FRAME_BYTES);
    (void)mf_model_invoke();
}

#if MF_RNN_STREAM
/* Instances do not overlap (stride >= window): each frame steps the running instance as it
 * arrives, no ring. An instance that exited skips the rest of its frames; it counts once its
 * window is complete (or at the end of a bag shorter than a window), as the twin's instances. */
static uint16_t inst_steps;
static uint8_t inst_exited, inst_class;

void mf_rnn_begin(void)
{
    memset(&bag, 0, sizeof bag);
    inst_steps = 0;
    inst_exited = 0;
}

void mf_rnn_push(const uint8_t *frame)
{
    const uint16_t p = (uint16_t)(bag.frames % MF_RNN_STRIDE);
    bag.frames++;
    if (p >= MF_RNN_WINDOW) {
        return; /* between instances */
    }
    if (p == 0u) {
        mf_model_reset();
        inst_steps = 0;
        inst_exited = 0;
    }
    if (!inst_exited) {
        step(frame);
        inst_steps++;
        inst_exited = (uint8_t)exits_at(p, MF_RNN_WINDOW, &inst_class);
    }
    if (p + 1u == MF_RNN_WINDOW) {
        int confident;
        finish_instance(inst_exited ? inst_class : top_class(&confident), inst_steps);
    }
}

static void end_short_bag(void)
{
    int confident;
    finish_instance(inst_exited ? inst_class : top_class(&confident), inst_steps);
}
#else
static uint8_t ring[MF_RNN_WINDOW][MF_RNN_FRAME_BYTES];

/* One instance over the last n frames received (oldest first). */
static void run_instance(uint16_t n)
{
    uint16_t t;
    uint8_t cls;
    int confident;
    const uint32_t oldest = bag.frames - n;
    mf_model_reset();
    for (t = 0; t < n; ++t) {
        step(ring[(oldest + t) % MF_RNN_WINDOW]);
        if (exits_at(t, n, &cls)) {
            finish_instance(cls, (uint16_t)(t + 1u));
            return;
        }
    }
    finish_instance(top_class(&confident), n);
}

void mf_rnn_begin(void)
{
    memset(&bag, 0, sizeof bag);
}

void mf_rnn_push(const uint8_t *frame)
{
    memcpy(ring[bag.frames % MF_RNN_WINDOW], frame, MF_RNN_FRAME_BYTES);
    bag.frames++;
    if (bag.frames >= MF_RNN_WINDOW && (bag.frames - MF_RNN_WINDOW) % MF_RNN_STRIDE == 0u) {
        run_instance(MF_RNN_WINDOW);
    }
}

static void end_short_bag(void)
{
    run_instance((uint16_t)bag.frames);
}
#endif

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
