/* Link messages of the on-device learning extension (types 0x20..0x29, docs/protocol.md
 * "Learning"). The embedding is the model's output 0 (float32 [MF_HEAD_DIM]) as left by
 * the last INVOKE; the head maths is in mf_head.c, checkpoints in mf_head_state.c. */
#include <math.h>
#include <string.h>

#include "mf_cycles.h"
#include "mf_head.h"
#include "mf_model_api.h"
#include "mf_runtime.h"

#ifndef MF_HEAD_LAST_CONV
#define MF_HEAD_LAST_CONV 0
#endif
#if MF_HEAD_LAST_CONV
/* The model stops before the BNN's last conv: the embedding is computed, and the last conv's
 * slice trained, by the last_conv extension (firmware/last_conv/). */
#include "mf_last_conv.h"
#if MF_LC_OUT_C != MF_HEAD_DIM
#error "the last conv's outputs must be the head's embedding"
#endif
static float teacher_buf[MF_HEAD_DIM]; /* the frozen network's embedding (LwF's teacher) */
static float grad_buf[MF_HEAD_DIM];    /* the embedding's gradient W^T e */
#endif

enum {
    MSG_LEARN_CONFIG = 0x20,
    MSG_LEARN_INFO = 0x21,
    MSG_ADD_CLASS = 0x22,
    MSG_TRAIN = 0x23,
    MSG_PREDICT = 0x24,
    MSG_EVAL_EMBEDDING = 0x25,
    MSG_STATE_INFO = 0x26,
    MSG_READ_STATE = 0x27,
    MSG_WRITE_STATE = 0x28,
    MSG_LEARN_RESET = 0x29,
    MSG_SET_EMBEDDING = 0x2A
};

static float x_buf[MF_HEAD_DIM]; /* the embedding, copied: the payload/arena may be unaligned */
static float z_buf[MF_HEAD_MAX_CLASSES];
static float p_buf[MF_HEAD_MAX_CLASSES];
/* WRITE_STATE progress: bytes of a blob written so far (0 = no restore under way). While
 * a restore is under way the state is partial, so every other learning message refuses. */
static uint32_t restore_pos;

static void put_f32(float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    mf_link_put_u32(u);
}

static float get_f32(const uint8_t *p)
{
    uint32_t u = mf_link_get_u32(p);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

static void reply_empty(const mf_frame *req)
{
    mf_reply_begin(req, 0);
    mf_link_end();
}

static int check_len(const mf_frame *req, uint16_t len, const char *msg)
{
    if (req->len != len) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, msg);
        return 0;
    }
    return 1;
}

static int check_not_restoring(const mf_frame *req)
{
    if (restore_pos != 0u) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE,
                       "checkpoint restore under way: finish WRITE_STATE or send LEARN_RESET");
        return 0;
    }
    return 1;
}

/* Copies n floats from little-endian bytes into x_buf; 0 if one is not finite. */
static int load_embedding(const mf_frame *req, const uint8_t *src)
{
    uint32_t k;
    for (k = 0; k < MF_HEAD_DIM; k++) {
        x_buf[k] = get_f32(src + 4u * k);
        if (!isfinite(x_buf[k])) {
            mf_reply_error(req, MF_ERR_OUT_OF_RANGE, "embedding has a non-finite value");
            return 0;
        }
    }
    return 1;
}

/* The current embedding: model output 0 after the last INVOKE (with the last_conv extension,
 * the last conv and its pool on the features in output 0, trained slice included). */
static int load_model_embedding(const mf_frame *req)
{
    const mf_io *out = &mf_model_outputs[0];
#if MF_HEAD_LAST_CONV
    if (mf_model_num_outputs < 1u || out->dtype != MF_DTYPE_UINT32 ||
        out->bytes != 4u * MF_LC_POSITIONS * MF_LC_WORDS) {
        mf_reply_error(req, MF_ERR_BAD_INDEX, "model output 0 is not the last conv's packed input");
        return 0;
    }
    mf_last_conv_embed((const uint32_t *)out->data, x_buf, mf_last_conv_teacher() ? teacher_buf : 0);
    return 1;
#endif
    if (mf_model_num_outputs < 1u || out->dtype != MF_DTYPE_FLOAT32 ||
        out->bytes != 4u * MF_HEAD_DIM) {
        mf_reply_error(req, MF_ERR_BAD_INDEX,
                       "model output 0 is not a float32 embedding of MF_HEAD_DIM values");
        return 0;
    }
    return load_embedding(req, (const uint8_t *)out->data);
}

static void put_config(void)
{
    mf_link_put_u8((uint8_t)mf_head.rule);
    put_f32(mf_head.lr);
    mf_link_put_u16((uint16_t)mf_head.batch);
}

/* payload: empty (query) or rule u8, lr f32, batch u16 -> reply: rule u8, lr f32, batch u16
 * (effective: batch 1 for the per-sample rules) */
static void on_config(const mf_frame *req)
{
    int r;
    if (!check_not_restoring(req)) {
        return;
    }
    if (req->len == 7u) {
        r = mf_head_configure(req->payload[0], get_f32(req->payload + 1),
                              mf_link_get_u16(req->payload + 5));
        if (r == -1) {
            mf_reply_error(req, MF_ERR_OUT_OF_RANGE,
                           "unknown rule code (0 tinyol, 1 tinyol-batch, 2 tinyolv2, "
                           "3 tinyolv2-batch, 4 lwf, 5 lwf-batch, 6 cwr)");
            return;
        }
        if (r == -2) {
            mf_reply_error(req, MF_ERR_OUT_OF_RANGE, "learning rate must be finite and > 0");
            return;
        }
        if (r == -3) {
            mf_reply_error(req, MF_ERR_OUT_OF_RANGE, "batch size must be >= 1");
            return;
        }
    } else if (req->len != 0u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, "LEARN_CONFIG takes nothing or rule, lr, batch");
        return;
    }
    mf_reply_begin(req, 7);
    put_config();
    mf_link_end();
}

/* reply: rule u8, classes u8, pretrained u8, max_classes u8, dim u16, batch u16, lr f32,
 * samples u32, batch_fill u16, frozen_classes u8, restoring u8, head_bytes u32,
 * reserved_bytes u32, state_bytes u32 */
static void on_info(const mf_frame *req)
{
    if (!check_len(req, 0, "LEARN_INFO takes no payload")) {
        return;
    }
    mf_reply_begin(req, 32);
    mf_link_put_u8((uint8_t)mf_head.rule);
    mf_link_put_u8((uint8_t)mf_head.classes);
    mf_link_put_u8((uint8_t)mf_head.pretrained);
    mf_link_put_u8((uint8_t)MF_HEAD_MAX_CLASSES);
    mf_link_put_u16((uint16_t)MF_HEAD_DIM);
    mf_link_put_u16((uint16_t)mf_head.batch);
    put_f32(mf_head.lr);
    mf_link_put_u32(mf_head.samples);
    mf_link_put_u16((uint16_t)mf_head.batch_fill);
    mf_link_put_u8((uint8_t)mf_head.frozen_classes);
    mf_link_put_u8(restore_pos != 0u);
    mf_link_put_u32(restore_pos != 0u ? 0u : mf_head_rule_bytes());
    /* everything the extension keeps in RAM: state + scratch here and in mf_head.c */
    mf_link_put_u32((uint32_t)(sizeof(mf_head) + sizeof(x_buf) + sizeof(z_buf) + sizeof(p_buf) +
                               3u * 4u * MF_HEAD_MAX_CLASSES
#if MF_HEAD_LAST_CONV
                               + sizeof(teacher_buf) + sizeof(grad_buf) + mf_last_conv_ram_bytes()
#endif
                               ));
    mf_link_put_u32((uint32_t)sizeof(mf_head));
    mf_link_end();
}

/* reply: index u8 of the new class */
static void on_add_class(const mf_frame *req)
{
    int j;
    if (!check_len(req, 0, "ADD_CLASS takes no payload") || !check_not_restoring(req)) {
        return;
    }
    j = mf_head_add_class();
    if (j < 0) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, "head full: MF_HEAD_MAX_CLASSES classes in use");
        return;
    }
    mf_reply_begin(req, 1);
    mf_link_put_u8((uint8_t)j);
    mf_link_end();
}

/* payload: label u8 -> reply: predicted u8, batch_end u8, samples u32, p_label f32,
 * ticks u64 (the whole step: embedding copy, forward, update) */
static void on_train(const mf_frame *req)
{
    uint64_t t0, t1;
    mf_head_train_result r;
    if (!check_len(req, 1, "TRAIN needs a label") || !check_not_restoring(req)) {
        return;
    }
    if (req->payload[0] >= mf_head.classes) {
        mf_reply_error(req, MF_ERR_BAD_INDEX, "label out of range: ADD_CLASS first");
        return;
    }
    t0 = mf_cycles_now64();
    if (!load_model_embedding(req)) {
        return;
    }
#if MF_HEAD_LAST_CONV
    r = mf_head_train_backprop(x_buf, mf_last_conv_teacher() ? teacher_buf : x_buf, req->payload[0], grad_buf);
    mf_last_conv_step(grad_buf);
#else
    r = mf_head_train(x_buf, req->payload[0]);
#endif
    t1 = mf_cycles_now64();
    mf_reply_begin(req, 18);
    mf_link_put_u8(r.predicted);
    mf_link_put_u8(r.batch_end);
    mf_link_put_u32(mf_head.samples);
    put_f32(r.p_label);
    mf_link_put_u64(t1 - t0);
    mf_link_end();
}

/* payload: MF_HEAD_DIM x f32 -> written into model output 0, as if the last INVOKE had computed
 * it. Replays an embedding this firmware computed earlier (same hash), so several learning
 * rules can be compared on the board on the same stream without running the backbone again. */
static void on_set_embedding(const mf_frame *req)
{
    uint32_t k;
    float *dst = (float *)mf_model_outputs[0].data;
    if (!check_len(req, (uint16_t)(4u * MF_HEAD_DIM), "SET_EMBEDDING needs MF_HEAD_DIM float32 values") ||
        !load_embedding(req, req->payload)) {
        return;
    }
    if (mf_model_num_outputs < 1u || mf_model_outputs[0].dtype != MF_DTYPE_FLOAT32 ||
        mf_model_outputs[0].bytes != 4u * MF_HEAD_DIM) {
        mf_reply_error(req, MF_ERR_BAD_INDEX, "model output 0 is not a float32 embedding of MF_HEAD_DIM values");
        return;
    }
    for (k = 0; k < MF_HEAD_DIM; k++) {
        dst[k] = x_buf[k];
    }
    reply_empty(req);
}

/* reply: classes u8, argmax u8, classes x logit f32, classes x probability f32 */
static void on_predict(const mf_frame *req)
{
    uint32_t j, best, c = mf_head.classes;
    if (!check_len(req, 0, "PREDICT takes no payload") || !check_not_restoring(req) ||
        !load_model_embedding(req)) {
        return;
    }
    best = mf_head_logits(x_buf, z_buf);
    mf_head_softmax(z_buf, c, p_buf);
    mf_reply_begin(req, (uint16_t)(2u + 8u * c));
    mf_link_put_u8((uint8_t)c);
    mf_link_put_u8((uint8_t)best);
    for (j = 0; j < c; j++) {
        put_f32(z_buf[j]);
    }
    for (j = 0; j < c; j++) {
        put_f32(p_buf[j]);
    }
    mf_link_end();
}

/* payload: n x float32[MF_HEAD_DIM] -> reply: n x argmax u8 */
static void on_eval_embedding(const mf_frame *req)
{
    uint32_t i, n;
    uint8_t out[MF_LINK_MAX_PAYLOAD / (4u * MF_HEAD_DIM) + 1u];
    if (!check_not_restoring(req)) {
        return;
    }
    if (req->len == 0u || req->len % (4u * MF_HEAD_DIM) != 0u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH,
                       "EVAL_EMBEDDING needs a whole number (>= 1) of float32 embeddings");
        return;
    }
    n = req->len / (4u * MF_HEAD_DIM);
    for (i = 0; i < n; i++) {
        if (!load_embedding(req, req->payload + i * 4u * MF_HEAD_DIM)) {
            return;
        }
        out[i] = (uint8_t)mf_head_logits(x_buf, z_buf);
    }
    mf_reply_begin(req, (uint16_t)n);
    mf_link_put(out, n);
    mf_link_end();
}

/* Seals the blob (CRC into its header). reply: size u32, version u16, layout u32, crc u32 */
static void on_state_info(const mf_frame *req)
{
    uint32_t crc;
    if (!check_len(req, 0, "STATE_INFO takes no payload") || !check_not_restoring(req)) {
        return;
    }
    crc = mf_head_seal();
    mf_reply_begin(req, 14);
    mf_link_put_u32((uint32_t)sizeof(mf_head));
    mf_link_put_u16((uint16_t)MF_HEAD_STATE_VERSION);
    mf_link_put_u32(MF_HEAD_LAYOUT_HASH);
    mf_link_put_u32(crc);
    mf_link_end();
}

/* payload: offset u32, length u16 -> reply: the blob's bytes */
static void on_read_state(const mf_frame *req)
{
    uint32_t offset, n;
    if (!check_len(req, 6, "READ_STATE needs offset, length") || !check_not_restoring(req)) {
        return;
    }
    offset = mf_link_get_u32(req->payload);
    n = mf_link_get_u16(req->payload + 4);
    if (n > MF_LINK_MAX_PAYLOAD || offset > sizeof(mf_head) || n > sizeof(mf_head) - offset) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, "offset+length past the state blob or max payload");
        return;
    }
    mf_reply_begin(req, (uint16_t)n);
    mf_link_put((const uint8_t *)&mf_head + offset, n);
    mf_link_end();
}

/* payload: offset u32, bytes. Offsets must follow on (offset 0 starts a restore); the last
 * byte triggers validation. reply: complete u8 (1 = restored), written u32 */
static void on_write_state(const mf_frame *req)
{
    static char msg[120];
    const char *why;
    uint32_t offset, n;
    if (req->len < 5u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, "WRITE_STATE needs offset, bytes");
        return;
    }
    offset = mf_link_get_u32(req->payload);
    n = req->len - 4u;
    if (offset != 0u && offset != restore_pos) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE,
                       "WRITE_STATE offset must continue the restore (or be 0 to start one)");
        return;
    }
    if (n > sizeof(mf_head) - offset) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, "WRITE_STATE past the end of the state blob");
        return;
    }
    memcpy((uint8_t *)&mf_head + offset, req->payload + 4, n);
    restore_pos = offset + n;
    if (restore_pos < sizeof(mf_head)) {
        mf_reply_begin(req, 5);
        mf_link_put_u8(0);
        mf_link_put_u32(restore_pos);
        mf_link_end();
        return;
    }
    restore_pos = 0;
    why = mf_head_validate();
    if (why != 0) {
        mf_head_reset(); /* never keep a half-valid state */
        strcpy(msg, "checkpoint rejected, head reset: ");
        strncat(msg, why, sizeof(msg) - strlen(msg) - 1u);
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, msg);
        return;
    }
    mf_reply_begin(req, 5);
    mf_link_put_u8(1);
    mf_link_put_u32((uint32_t)sizeof(mf_head));
    mf_link_end();
}

/* Back to the pretrained head and the default rule; aborts a restore. */
static void on_reset(const mf_frame *req)
{
    if (!check_len(req, 0, "LEARN_RESET takes no payload")) {
        return;
    }
    restore_pos = 0;
    mf_head_reset();
#if MF_HEAD_LAST_CONV
    mf_last_conv_reset();
#endif
    reply_empty(req);
}

static const mf_link_route routes[] MF_CONST = {
    {MSG_LEARN_CONFIG, on_config},
    {MSG_LEARN_INFO, on_info},
    {MSG_ADD_CLASS, on_add_class},
    {MSG_TRAIN, on_train},
    {MSG_PREDICT, on_predict},
    {MSG_EVAL_EMBEDDING, on_eval_embedding},
    {MSG_STATE_INFO, on_state_info},
    {MSG_READ_STATE, on_read_state},
    {MSG_WRITE_STATE, on_write_state},
    {MSG_LEARN_RESET, on_reset},
    {MSG_SET_EMBEDDING, on_set_embedding},
};

void mf_ext_learning_register(void)
{
    mf_head_reset();
    (void)MF_LINK_REGISTER_ROUTES(routes);
}
