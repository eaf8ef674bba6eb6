/* The head's maths: forward pass, softmax, the seven update rules (see mf_head.h).
 * Every float operation is a single IEEE float32 step in a fixed order (no FMA: the
 * project compiles with -std=c99, which keeps contraction off), so the numpy reference
 * in toolchain/learning/rules.py reproduces the state bit for bit. */
#include <math.h>
#include <string.h>

#define MF_HEAD_CONFIG_DEFINE_WEIGHTS /* the initial W, b live in this file only */
#include "mf_head.h"

#define DIM MF_HEAD_DIM
#define MAXC MF_HEAD_MAX_CLASSES

mf_head_state mf_head;

static float z_buf[MAXC];  /* logits */
static float p_buf[MAXC];  /* softmax */
static float pf_buf[MAXC]; /* softmax of the frozen copy (lwf) */
static float e_buf[MAXC];  /* error signal per class */

/* exp(x) for the softmax (x = z - max <= 0). Cody-Waite reduction x = n ln2 + r with
 * |r| <= ln2/2, a degree-6 Taylor polynomial for exp(r) (error ~1e-7 relative), and
 * 2^n built from its exponent bits. Below -80 the result is flushed to 0, which keeps
 * every value a normal float. Constants are hex floats: exact in C and in numpy. */
float mf_head_expf(float x)
{
    union {
        uint32_t u;
        float f;
    } scale;
    float n, r, p;
    if (x < -80.0f) {
        return 0.0f;
    }
    if (x != x) {
        return x; /* NaN (a head whose weights overflowed): converting it to int is undefined */
    }
    n = floorf(x * 0x1.715476p+0f + 0.5f);              /* round(x log2 e) */
    r = (x - n * 0x1.630000p-1f) - n * -0x1.bd0106p-13f; /* x - n ln2, ln2 in two parts */
    p = 0x1.6c16c2p-10f;                                 /* 1/720 */
    p = p * r + 0x1.111112p-7f;                          /* 1/120 */
    p = p * r + 0x1.555556p-5f;                          /* 1/24 */
    p = p * r + 0x1.555556p-3f;                          /* 1/6 */
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    scale.u = (uint32_t)((int32_t)n + 127) << 23;
    return p * scale.f;
}

void mf_head_softmax(const float *z, uint32_t n, float *p)
{
    uint32_t j;
    float m = z[0], s = 0.0f;
    for (j = 1; j < n; j++) {
        if (z[j] > m) {
            m = z[j];
        }
    }
    for (j = 0; j < n; j++) {
        p[j] = mf_head_expf(z[j] - m);
        s = s + p[j];
    }
    for (j = 0; j < n; j++) {
        p[j] = p[j] / s;
    }
}

/* z[j] = (sum_k w[j][k] x[k], summed in k order) + b[j] for j < rows; returns the argmax
 * (first index on ties). */
static uint32_t forward(const float *w, const float *b, uint32_t rows, const float *x, float *z)
{
    uint32_t j, k, best = 0;
    for (j = 0; j < rows; j++) {
        const float *row = w + j * DIM;
        float acc = 0.0f;
        for (k = 0; k < DIM; k++) {
            acc = acc + row[k] * x[k];
        }
        z[j] = acc + b[j];
        if (z[j] > z[best]) {
            best = j;
        }
    }
    return best;
}

int mf_head_rule_is_batched(uint32_t rule)
{
    return rule == MF_RULE_TINYOL_BATCH || rule == MF_RULE_TINYOLV2_BATCH ||
           rule == MF_RULE_LWF_BATCH || rule == MF_RULE_CWR;
}

static int uses_frozen_copy(uint32_t rule)
{
    return rule == MF_RULE_LWF || rule == MF_RULE_LWF_BATCH;
}

static int sums_gradients(uint32_t rule)
{
    return rule == MF_RULE_TINYOL_BATCH || rule == MF_RULE_TINYOLV2_BATCH;
}

/* First row a rule updates: v2 rules train only the classes added at run time. */
static uint32_t first_trained_row(uint32_t rule)
{
    return (rule == MF_RULE_TINYOLV2 || rule == MF_RULE_TINYOLV2_BATCH) ? mf_head.pretrained : 0u;
}

static void copy_head_to_aux(void)
{
    memcpy(mf_head.aux_w, mf_head.w, sizeof(float) * DIM * mf_head.classes);
    memcpy(mf_head.aux_b, mf_head.b, sizeof(float) * mf_head.classes);
}

void mf_head_reset(void)
{
    memset(&mf_head, 0, sizeof(mf_head));
    mf_head.magic = MF_HEAD_STATE_MAGIC;
    mf_head.version = MF_HEAD_STATE_VERSION;
    mf_head.layout = MF_HEAD_LAYOUT_HASH;
    mf_head.max_classes = MAXC;
    mf_head.dim = DIM;
    mf_head.pretrained = MF_HEAD_PRETRAINED_CLASSES;
    mf_head.classes = MF_HEAD_PRETRAINED_CLASSES;
    memcpy(mf_head.w, mf_head_init_w, sizeof(mf_head_init_w));
    memcpy(mf_head.b, mf_head_init_b, sizeof(mf_head_init_b));
    (void)mf_head_configure(MF_HEAD_DEFAULT_RULE, MF_HEAD_DEFAULT_LR, MF_HEAD_DEFAULT_BATCH);
}

int mf_head_configure(uint32_t rule, float lr, uint32_t batch)
{
    if (rule >= MF_RULE_COUNT) {
        return -1;
    }
    if (!(lr > 0.0f) || !isfinite(lr)) {
        return -2;
    }
    if (batch == 0u) {
        return -3;
    }
    mf_head.rule = rule;
    mf_head.lr = lr;
    mf_head.batch = mf_head_rule_is_batched(rule) ? batch : 1u;
    mf_head.samples = 0;
    mf_head.batch_fill = 0;
    mf_head.frozen_classes = 0;
    memset(mf_head.aux_w, 0, sizeof(mf_head.aux_w));
    memset(mf_head.aux_b, 0, sizeof(mf_head.aux_b));
    memset(mf_head.past, 0, sizeof(mf_head.past));
    memset(mf_head.cur, 0, sizeof(mf_head.cur));
    if (uses_frozen_copy(rule) || rule == MF_RULE_CWR) {
        copy_head_to_aux(); /* frozen copy, or CW = the head so far */
        if (uses_frozen_copy(rule)) {
            mf_head.frozen_classes = mf_head.classes;
        }
    }
    return 0;
}

int mf_head_add_class(void)
{
    uint32_t j = mf_head.classes;
    if (j >= MAXC) {
        return -1;
    }
    /* Rows past `classes` are kept zero, so the new class starts from W_j = 0, b_j = 0
     * (and CW_j = 0, past_j = 0); clear again in case a checkpoint carried junk. */
    memset(mf_head.w + j * DIM, 0, sizeof(float) * DIM);
    memset(mf_head.aux_w + j * DIM, 0, sizeof(float) * DIM);
    mf_head.b[j] = 0.0f;
    mf_head.aux_b[j] = 0.0f;
    mf_head.past[j] = 0;
    mf_head.cur[j] = 0;
    mf_head.classes = j + 1u;
    return (int)j;
}

/* w[j] -= t_j x, b[j] -= t_j with t_j = lr e_j, for rows [first, classes). */
static void sgd_rows(float *w, float *b, uint32_t first, const float *x, const float *e)
{
    uint32_t j, k;
    for (j = first; j < mf_head.classes; j++) {
        float t = mf_head.lr * e[j];
        float *row = w + j * DIM;
        for (k = 0; k < DIM; k++) {
            row[k] = row[k] - t * x[k];
        }
        b[j] = b[j] - t;
    }
}

/* Batch end of tinyol(v2)-batch: W -= lr (G / B), then G = 0. */
static void apply_mean_gradient(uint32_t first)
{
    uint32_t j, k;
    float nb = (float)mf_head.batch;
    for (j = first; j < mf_head.classes; j++) {
        float *row = mf_head.w + j * DIM;
        float *g = mf_head.aux_w + j * DIM;
        for (k = 0; k < DIM; k++) {
            row[k] = row[k] - mf_head.lr * (g[k] / nb);
            g[k] = 0.0f;
        }
        mf_head.b[j] = mf_head.b[j] - mf_head.lr * (mf_head.aux_b[j] / nb);
        mf_head.aux_b[j] = 0.0f;
    }
}

/* Batch end of cwr: consolidate the classes seen in the batch into CW, then TW = CW. */
static void cwr_consolidate(void)
{
    uint32_t j, k;
    for (j = 0; j < mf_head.classes; j++) {
        if (mf_head.cur[j] != 0u) {
            float pf = (float)mf_head.past[j], cf = (float)mf_head.cur[j];
            float den = pf + cf;
            float *cw = mf_head.aux_w + j * DIM;
            const float *tw = mf_head.w + j * DIM;
            for (k = 0; k < DIM; k++) {
                cw[k] = (cw[k] * pf + tw[k] * cf) / den;
            }
            mf_head.aux_b[j] = (mf_head.aux_b[j] * pf + mf_head.b[j] * cf) / den;
            mf_head.past[j] += mf_head.cur[j];
            mf_head.cur[j] = 0;
        }
    }
    memcpy(mf_head.w, mf_head.aux_w, sizeof(float) * DIM * mf_head.classes);
    memcpy(mf_head.b, mf_head.aux_b, sizeof(float) * mf_head.classes);
}

static float lwf_lambda(void)
{
    float n = (float)mf_head.samples;
    if (mf_head.rule == MF_RULE_LWF) {
        return 100.0f / (100.0f + n); /* in float: integer division would make it 0 */
    }
    return mf_head.samples < mf_head.batch ? 1.0f : (float)mf_head.batch / n;
}

mf_head_train_result mf_head_train(const float *x, uint32_t label)
{
    return mf_head_train_backprop(x, x, label, 0);
}

/* grad[k] = sum_j W[j][k] e[j] over the classes in order (W before the update): the embedding's
 * gradient a layer below the head steps with (mcuforge.learning.last_conv). */
static void embedding_gradient(float *grad)
{
    uint32_t j, k;
    for (k = 0; k < DIM; k++) {
        grad[k] = 0.0f;
    }
    for (j = 0; j < mf_head.classes; j++) {
        const float *row = mf_head.w + j * DIM;
        for (k = 0; k < DIM; k++) {
            grad[k] = grad[k] + row[k] * e_buf[j];
        }
    }
}

mf_head_train_result mf_head_train_backprop(const float *x, const float *teacher, uint32_t label, float *grad)
{
    mf_head_train_result res;
    uint32_t rule = mf_head.rule, c = mf_head.classes, j, k;
    uint32_t first = first_trained_row(rule);

    if (rule == MF_RULE_CWR) {
        res.predicted = (uint8_t)forward(mf_head.aux_w, mf_head.aux_b, c, x, z_buf);
        (void)forward(mf_head.w, mf_head.b, c, x, z_buf);
    } else {
        res.predicted = (uint8_t)forward(mf_head.w, mf_head.b, c, x, z_buf);
    }
    mf_head_softmax(z_buf, c, p_buf);
    res.p_label = p_buf[label];
    mf_head.samples++;
    mf_head.total_samples++;

    for (j = 0; j < c; j++) {
        e_buf[j] = p_buf[j];
    }
    e_buf[label] = p_buf[label] - 1.0f;
    if (uses_frozen_copy(rule)) {
        float lam = lwf_lambda(), keep = 1.0f - lam;
        uint32_t fc = mf_head.frozen_classes;
        (void)forward(mf_head.aux_w, mf_head.aux_b, fc, teacher, z_buf);
        mf_head_softmax(z_buf, fc, pf_buf);
        for (j = 0; j < c; j++) {
            float pf = j < fc ? pf_buf[j] : 0.0f; /* classes the copy lacks: p' = 0 */
            e_buf[j] = keep * e_buf[j] + lam * (p_buf[j] - pf);
        }
    }
    if (grad) {
        embedding_gradient(grad);
    }

    if (sums_gradients(rule)) {
        for (j = first; j < c; j++) {
            float *g = mf_head.aux_w + j * DIM;
            for (k = 0; k < DIM; k++) {
                g[k] = g[k] + e_buf[j] * x[k];
            }
            mf_head.aux_b[j] = mf_head.aux_b[j] + e_buf[j];
        }
    } else {
        sgd_rows(mf_head.w, mf_head.b, first, x, e_buf);
    }
    if (rule == MF_RULE_CWR) {
        mf_head.cur[label]++;
    }

    mf_head.batch_fill++;
    res.batch_end = (uint8_t)(mf_head.batch_fill >= mf_head.batch);
    if (res.batch_end) {
        mf_head.batch_fill = 0;
        if (sums_gradients(rule)) {
            apply_mean_gradient(first);
        } else if (rule == MF_RULE_LWF_BATCH) {
            copy_head_to_aux();
            mf_head.frozen_classes = c;
        } else if (rule == MF_RULE_CWR) {
            cwr_consolidate();
        }
    }
    return res;
}

uint32_t mf_head_logits(const float *x, float *z)
{
    if (mf_head.rule == MF_RULE_CWR) {
        return forward(mf_head.aux_w, mf_head.aux_b, mf_head.classes, x, z);
    }
    return forward(mf_head.w, mf_head.b, mf_head.classes, x, z);
}

uint32_t mf_head_rule_bytes(void)
{
    uint32_t c = mf_head.classes;
    uint32_t matrix = 4u * c * (DIM + 1u); /* W and b at the current class count */
    switch (mf_head.rule) {
    case MF_RULE_TINYOL:
    case MF_RULE_TINYOLV2:
        return matrix;
    case MF_RULE_CWR:
        return 2u * matrix + 2u * 4u * c; /* TW, CW, past, cur */
    default:
        return 2u * matrix; /* + batch sums or frozen copy */
    }
}
