/* Link messages of the audio front end (docs/protocol.md, "frontend" section):
 * 0x10 FRONTEND_INFO, 0x11 AUDIO_BEGIN, 0x12 AUDIO_CHUNK, 0x13 AUDIO_END, 0x14 READ_FEATURES.
 * The features go straight into the model's input 0 (int8, frames x mels). */
#include <string.h>

#include "mf_cycles.h"
#include "mf_frontend.h"
#include "mf_model_api.h"
#include "mf_runtime.h"

enum {
    MF_MSG_FRONTEND_INFO = 0x10,
    MF_MSG_AUDIO_BEGIN = 0x11,
    MF_MSG_AUDIO_CHUNK = 0x12,
    MF_MSG_AUDIO_END = 0x13,
    MF_MSG_READ_FEATURES = 0x14
};

#define INFO_FLAG_NORMALIZED 0x01u
#define INFO_FLAG_KEEP_FLOAT 0x02u
#define INFO_FLAG_CLIP_OPEN 0x04u
#define DECODE_BLOCK 128u /* samples decoded from the payload per call into the front end */

enum { CLIP_NONE, CLIP_OPEN, CLIP_ENDED };
static uint8_t clip_state;
static uint64_t clip_ticks; /* counter ticks spent computing the current clip */

static void put_f32(float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    mf_link_put_u32(bits);
}

/* reply: config_id u32, sample_rate u32, clip_samples u32, win u16, hop u16, n_fft u16,
 * n_mels u16, n_frames u16, flags u8, input_scale f32, input_zero_point i8 */
static void on_info(const mf_frame *req)
{
    uint8_t flags = 0;
    if (req->len != 0u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, "FRONTEND_INFO takes no payload");
        return;
    }
#if MF_FRONTEND_NORMALIZED
    flags |= INFO_FLAG_NORMALIZED;
#endif
#if MF_FRONTEND_KEEP_FLOAT
    flags |= INFO_FLAG_KEEP_FLOAT;
#endif
    if (clip_state == CLIP_OPEN) {
        flags |= INFO_FLAG_CLIP_OPEN;
    }
    mf_reply_begin(req, 28);
    mf_link_put_u32(MF_FRONTEND_CONFIG_ID);
    mf_link_put_u32(MF_FRONTEND_SAMPLE_RATE);
    mf_link_put_u32(MF_FRONTEND_CLIP_SAMPLES);
    mf_link_put_u16(MF_FRONTEND_WIN);
    mf_link_put_u16(MF_FRONTEND_HOP);
    mf_link_put_u16(MF_FRONTEND_N_FFT);
    mf_link_put_u16(MF_FRONTEND_MELS);
    mf_link_put_u16(MF_FRONTEND_FRAMES);
    mf_link_put_u8(flags);
    put_f32(MF_FRONTEND_INPUT_SCALE);
    mf_link_put_u8((uint8_t)(int8_t)MF_FRONTEND_INPUT_ZERO_POINT);
    mf_link_end();
}

/* no payload, empty reply: opens a clip (forgets the last one) */
static void on_begin(const mf_frame *req)
{
    if (req->len != 0u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, "AUDIO_BEGIN takes no payload");
        return;
    }
    /* a frame hook takes the frames one by one; else the clip's frames x mels int8 go into input 0 */
    if (!mf_frontend_has_frame_hook() &&
        (mf_model_num_inputs < 1u || mf_model_inputs[0].dtype != MF_DTYPE_INT8 ||
         mf_model_inputs[0].bytes != MF_FRONTEND_VALUES)) {
        mf_reply_error(req, MF_ERR_BAD_INDEX,
                       "model input 0 is not the front end's frames x mels int8");
        return;
    }
    clip_ticks = 0;
    clip_state = CLIP_OPEN;
    mf_frontend_begin(mf_frontend_has_frame_hook() ? NULL : (int8_t *)mf_model_inputs[0].data);
    mf_reply_begin(req, 0);
    mf_link_end();
}

/* payload: first_sample u32 (index of the chunk's first sample in the clip), int16 LE
 * samples -> reply: frames u32, samples u32 (received so far). The index makes a resent
 * chunk harmless: one the device already has is acknowledged again, not applied twice. */
static void on_chunk(const mf_frame *req)
{
    int16_t block[DECODE_BLOCK];
    uint32_t first, n, i, done, have;
    uint64_t t0;
    if (clip_state != CLIP_OPEN) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, clip_state == CLIP_NONE
                       ? "no clip open: send AUDIO_BEGIN first"
                       : "clip already ended: send AUDIO_BEGIN for the next one");
        return;
    }
    if (req->len < 4u || (req->len & 1u) != 0u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH,
                       "AUDIO_CHUNK needs first_sample u32 then int16 samples (even length)");
        return;
    }
    first = mf_link_get_u32(req->payload);
    n = (req->len - 4u) / 2u;
    have = mf_frontend_samples();
    if (first != have && !(first < have && n <= have - first)) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, first > have
                       ? "chunk starts past the samples received (a chunk was lost)"
                       : "chunk overlaps the samples received");
        return;
    }
    if (first == have) {
        t0 = mf_cycles_now64();
        for (done = 0; done < n; done += DECODE_BLOCK) {
            uint32_t k = n - done < DECODE_BLOCK ? n - done : DECODE_BLOCK;
            for (i = 0; i < k; i++) {
                block[i] = (int16_t)mf_link_get_u16(req->payload + 4u + 2u * (done + i));
            }
            (void)mf_frontend_push(block, k);
        }
        clip_ticks += mf_cycles_now64() - t0;
    }
    mf_reply_begin(req, 8);
    mf_link_put_u32(mf_frontend_frames());
    mf_link_put_u32(mf_frontend_samples());
    mf_link_end();
}

/* no payload -> reply: frames u32, samples u32, ticks u64 (front end work of the clip).
 * Ending an ended clip repeats the reply (a resent END is harmless). */
static void on_end(const mf_frame *req)
{
    uint64_t t0;
    if (req->len != 0u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, "AUDIO_END takes no payload");
        return;
    }
    if (clip_state == CLIP_NONE) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, "no clip open: send AUDIO_BEGIN first");
        return;
    }
    if (clip_state == CLIP_OPEN) {
        t0 = mf_cycles_now64();
        (void)mf_frontend_end();
        clip_ticks += mf_cycles_now64() - t0;
        clip_state = CLIP_ENDED;
    }
    mf_reply_begin(req, 16);
    mf_link_put_u32(mf_frontend_frames());
    mf_link_put_u32(mf_frontend_samples());
    mf_link_put_u64(clip_ticks);
    mf_link_end();
}

#if MF_FRONTEND_KEEP_FLOAT
/* payload: offset u32, count u16 (in values) -> reply: count float32 LE */
static void on_read_features(const mf_frame *req)
{
    uint32_t offset, count, i;
    const float *f = mf_frontend_features();
    if (req->len != 6u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, "READ_FEATURES needs offset u32, count u16");
        return;
    }
    offset = mf_link_get_u32(req->payload);
    count = mf_link_get_u16(req->payload + 4);
    if (count * 4u > MF_LINK_MAX_PAYLOAD) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, "count * 4 over max payload");
        return;
    }
    if (offset > MF_FRONTEND_VALUES || count > MF_FRONTEND_VALUES - offset) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, "offset+count past frames x mels");
        return;
    }
    mf_reply_begin(req, (uint16_t)(count * 4u));
    for (i = 0; i < count; i++) {
        put_f32(f[offset + i]);
    }
    mf_link_end();
}
#endif

static const mf_link_route routes[] MF_CONST = {
    {MF_MSG_FRONTEND_INFO, on_info},
    {MF_MSG_AUDIO_BEGIN, on_begin},
    {MF_MSG_AUDIO_CHUNK, on_chunk},
    {MF_MSG_AUDIO_END, on_end},
#if MF_FRONTEND_KEEP_FLOAT
    {MF_MSG_READ_FEATURES, on_read_features},
#endif
};

void mf_ext_frontend_register(void)
{
    (void)MF_LINK_REGISTER_ROUTES(routes);
}
