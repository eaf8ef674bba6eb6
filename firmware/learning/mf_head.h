/* The float classifier head trained on the device (extension "learning").
 *
 * W [classes x DIM], b [classes] on top of the frozen embedding x (float32, the model's
 * output 0). p = softmax(W x + b), e = p - onehot(y), learning rate lr:
 *   tinyol          W_j -= lr e_j x, b_j -= lr e_j for every class j (after every sample)
 *   tinyol-batch    sum e_j x, e_j over B samples, then apply the mean
 *   tinyolv2(-batch) the same, but only the rows of classes added at run time
 *   lwf             e = (1 - l)(p - y) + l (p - p'), p' from a frozen copy of the head,
 *                   l = 100 / (100 + n) in float (n = samples seen, this one included)
 *   lwf-batch       the same with l = 1 while n < B, then B / n; the frozen copy is
 *                   refreshed to the current head every B samples
 *   cwr             temporary weights TW (= W) trained like tinyol, samples counted per
 *                   class; every B samples CW_j = (CW_j past_j + TW_j cur_j)/(past_j + cur_j),
 *                   past_j += cur_j, then TW = CW. Predictions use CW.
 *
 * The whole learning state is one struct of 4-byte fields (no padding, no pointers), so
 * the host can read it as a versioned checkpoint blob and write it back after a reset
 * (layout: toolchain/learning/checkpoint.py). No malloc: sizes come from the generated
 * mf_head_config.h. Float maths is plain IEEE single precision in a fixed order, so the
 * numpy reference (toolchain/learning/rules.py) reproduces it exactly. */
#ifndef MF_HEAD_H
#define MF_HEAD_H

#include <stdint.h>

#include "mf_head_config.h"

#if MF_HEAD_MAX_CLASSES < 1 || MF_HEAD_MAX_CLASSES > 255
#error "MF_HEAD_MAX_CLASSES must be in 1..255 (class indices travel as u8)"
#endif
#if MF_HEAD_PRETRAINED_CLASSES < 1 || MF_HEAD_PRETRAINED_CLASSES > MF_HEAD_MAX_CLASSES
#error "MF_HEAD_PRETRAINED_CLASSES must be in 1..MF_HEAD_MAX_CLASSES"
#endif
#if MF_HEAD_DIM < 1 || MF_HEAD_DIM > 65535
#error "MF_HEAD_DIM must be in 1..65535"
#endif

enum {
    MF_RULE_TINYOL = 0,
    MF_RULE_TINYOL_BATCH = 1,
    MF_RULE_TINYOLV2 = 2,
    MF_RULE_TINYOLV2_BATCH = 3,
    MF_RULE_LWF = 4,
    MF_RULE_LWF_BATCH = 5,
    MF_RULE_CWR = 6,
    MF_RULE_COUNT = 7
};

#define MF_HEAD_STATE_MAGIC 0x5348464Du /* "MFHS" little-endian */
#define MF_HEAD_STATE_VERSION 1u
#define MF_HEAD_HEADER_WORDS 16u

/* Checkpoint blob == this struct. Every field is 4 bytes, so there is no padding and
 * the byte layout is the same on every little-endian target. */
typedef struct {
    uint32_t magic;
    uint32_t version;
    uint32_t layout;      /* MF_HEAD_LAYOUT_HASH: restores only onto the same head config */
    uint32_t crc;         /* CRC-32 of the blob with this field 0; set by mf_head_seal() */
    uint32_t max_classes; /* MF_HEAD_MAX_CLASSES */
    uint32_t dim;         /* MF_HEAD_DIM */
    uint32_t pretrained;  /* MF_HEAD_PRETRAINED_CLASSES */
    uint32_t rule;        /* MF_RULE_* */
    float lr;
    uint32_t batch;      /* effective batch: 1 for the per-sample rules */
    uint32_t classes;    /* rows in use */
    uint32_t frozen_classes; /* rows of the frozen copy (lwf, lwf-batch) */
    uint32_t samples;    /* trained since the last configure (n of lwf) */
    uint32_t batch_fill; /* samples in the current batch */
    uint32_t total_samples; /* trained since boot/reset, across configures */
    uint32_t reserved;
    float w[MF_HEAD_MAX_CLASSES * MF_HEAD_DIM]; /* W (cwr: TW) */
    float b[MF_HEAD_MAX_CLASSES];
    /* One auxiliary matrix serves every rule (none needs two): the batch sums
     * (tinyol(v2)-batch), the frozen copy (lwf, lwf-batch) or CW (cwr). */
    float aux_w[MF_HEAD_MAX_CLASSES * MF_HEAD_DIM];
    float aux_b[MF_HEAD_MAX_CLASSES];
    uint32_t past[MF_HEAD_MAX_CLASSES]; /* cwr */
    uint32_t cur[MF_HEAD_MAX_CLASSES];  /* cwr */
} mf_head_state;

#define MF_HEAD_STATE_BYTES                                                                    \
    (4u * (MF_HEAD_HEADER_WORDS + 2u * MF_HEAD_MAX_CLASSES * MF_HEAD_DIM +                    \
           4u * MF_HEAD_MAX_CLASSES))

extern mf_head_state mf_head;

/* Result of one training step. */
typedef struct {
    uint8_t predicted; /* argmax of the prediction head's logits before the update */
    uint8_t batch_end; /* 1 when this sample closed a batch (mean update applied, frozen
                        * copy refreshed, CWR consolidated); always 1 for batch size 1 */
    float p_label;     /* softmax probability of the true label before the update */
} mf_head_train_result;

/* Pretrained head, default rule/lr/batch, rule state cleared. */
void mf_head_reset(void);
/* 0 = ok; -1 = bad rule, -2 = lr not finite and > 0, -3 = batch 0. Keeps W, b and the
 * classes; clears the rule's state (batch sums, counters) and takes a new frozen copy
 * (lwf) or CW (cwr) from the current head. */
int mf_head_configure(uint32_t rule, float lr, uint32_t batch);
/* Index of the new (zero) class, or -1 when the head is full. */
int mf_head_add_class(void);
/* Trains on embedding x with label (< classes, checked by the caller). */
mf_head_train_result mf_head_train(const float *x, uint32_t label);
/* The same, with LwF's frozen copy reading `teacher` (the frozen backbone's embedding when the
 * layer below learns; x otherwise) and, when grad != NULL, the embedding's gradient W^T e
 * [MF_HEAD_DIM] (W before the update) written to grad. */
mf_head_train_result mf_head_train_backprop(const float *x, const float *teacher, uint32_t label, float *grad);
/* Logits of the prediction head (CW for cwr) into z[classes]; returns the argmax. */
uint32_t mf_head_logits(const float *x, float *z);
/* p[n] = softmax(z[n]) (subtract the max, then exp). */
void mf_head_softmax(const float *z, uint32_t n, float *p);
/* exp(x) for x <= 0 in plain float32 steps (the numpy reference mirrors them). */
float mf_head_expf(float x);
/* Bytes of head state the current rule uses at the current class count. */
uint32_t mf_head_rule_bytes(void);
int mf_head_rule_is_batched(uint32_t rule);

/* Checkpoints (mf_head_state.c). */
uint32_t mf_head_crc32(const uint8_t *data, uint32_t n, uint32_t crc);
/* Writes the blob's CRC into its header and returns it. */
uint32_t mf_head_seal(void);
/* Checks a blob written over mf_head; NULL = valid, else the reason. */
const char *mf_head_validate(void);

#endif
