/* Link messages of the EMI-RNN extension (docs/protocol.md, "rnn" section):
 * 0x30 RNN_INFO, 0x31 BAG_BEGIN, 0x32 BAG_FRAMES, 0x33 BAG_END. The host streams a bag's raw
 * frames (or, with MF_RNN_AUDIO, a clip's audio through the front end's messages); the device runs the instances as they fall due and answers the bag's class, each
 * instance's class and exit step, and the counter ticks it spent. */
#include <string.h>

#include "mf_cycles.h"
#include "mf_guard.h"
#include "mf_model_api.h"
#include "mf_rnn.h"
#include "mf_runtime.h"

enum {
    MF_MSG_RNN_INFO = 0x30,
    MF_MSG_BAG_BEGIN = 0x31,
    MF_MSG_BAG_FRAMES = 0x32,
    MF_MSG_BAG_END = 0x33
};

#define INFO_FLAG_EARLY_EXIT 0x01u
#define INFO_FLAG_NEGATIVE_ONLY 0x02u
#define INFO_FLAG_BAG_RULE 0x04u
#define INFO_FLAG_BAG_OPEN 0x08u
#define END_FIXED_BYTES 16u /* class u8, instances u16, steps u32, ticks u64, reported u8 */

enum { BAG_NONE, BAG_OPEN, BAG_ENDED };
static uint8_t bag_state;
static uint8_t bag_class;
static uint64_t bag_ticks; /* counter ticks spent on the bag's frames and instances */

/* The model has one frame as input 0 and the state tensors the config sized the slots for. */
static int model_fits(void)
{
    uint32_t i, state = 0;
    for (i = 0; i < mf_model_num_states; ++i) {
        state += mf_model_states[i].bytes;
    }
    return mf_model_num_inputs >= 1u && mf_model_inputs[0].bytes == MF_RNN_FRAME_BYTES &&
           (MF_RNN_SLOTS == 1u || state == MF_RNN_STATE_BYTES);
}

/* reply: input_dim u16, window u16, stride u16, kappa u16, classes u8, k u8, negative u8
 * (255: none), flags u8, p_hat f32, frame_bytes u16, report_instances u16 */
static void on_info(const mf_frame *req)
{
    uint8_t flags = 0;
    uint32_t p_hat_bits;
    const float p_hat = MF_RNN_P_HAT_F32;
    if (req->len != 0u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, MF_TEXT("RNN_INFO takes no payload"));
        return;
    }
    flags |= MF_RNN_EARLY_EXIT ? INFO_FLAG_EARLY_EXIT : 0u;
    flags |= MF_RNN_NEGATIVE_ONLY ? INFO_FLAG_NEGATIVE_ONLY : 0u;
    flags |= MF_RNN_BAG_RULE ? INFO_FLAG_BAG_RULE : 0u;
    flags |= bag_state == BAG_OPEN ? INFO_FLAG_BAG_OPEN : 0u;
    memcpy(&p_hat_bits, &p_hat, sizeof p_hat_bits);
    mf_reply_begin(req, 20);
    mf_link_put_u16(MF_RNN_INPUT_DIM);
    mf_link_put_u16(MF_RNN_WINDOW);
    mf_link_put_u16(MF_RNN_STRIDE);
    mf_link_put_u16(MF_RNN_KAPPA);
    mf_link_put_u8(MF_RNN_CLASSES);
    mf_link_put_u8(MF_RNN_K);
    mf_link_put_u8(MF_RNN_NEGATIVE);
    mf_link_put_u8(flags);
    mf_link_put_u32(p_hat_bits);
    mf_link_put_u16(MF_RNN_FRAME_BYTES);
    mf_link_put_u16(MF_RNN_REPORT_INSTANCES);
    mf_link_end();
}

/* payload: nothing, or frames u32 (the bag's length: instances that cannot complete are not
 * run) -> empty reply: opens a bag (forgets the last one) */
static void on_begin(const mf_frame *req)
{
    if (req->len != 0u && req->len != 4u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, MF_TEXT("BAG_BEGIN takes nothing or frames u32"));
        return;
    }
    if (!model_fits()) {
        mf_reply_error(req, MF_ERR_BAD_INDEX, MF_TEXT("model input 0 or its state is not the RNN's"));
        return;
    }
    mf_rnn_begin(req->len == 4u ? mf_link_get_u32(req->payload) : 0u);
    bag_ticks = 0;
    bag_state = BAG_OPEN;
    mf_reply_begin(req, 0);
    mf_link_end();
}

/* payload: first_byte u32 (offset of the chunk's first byte in the bag's frames), then bytes
 * of frames (a frame may be split over chunks) -> reply: bytes u32, instances u16 (so far). A
 * chunk the device already has (a resend whose reply was lost) is acknowledged again, not
 * applied twice. */
static void on_frames(const mf_frame *req)
{
    uint32_t first, n, have;
    uint64_t t0;
    if (bag_state != BAG_OPEN) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, bag_state == BAG_NONE
                       ? MF_TEXT("no bag open: send BAG_BEGIN first")
                       : MF_TEXT("bag already ended: send BAG_BEGIN for the next one"));
        return;
    }
    if (req->len < 4u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, MF_TEXT("BAG_FRAMES needs first_byte u32 then bytes of frames"));
        return;
    }
    first = mf_link_get_u32(req->payload);
    n = req->len - 4u;
    have = mf_rnn_bytes();
    if (first != have && !(first < have && n <= have - first)) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, first > have
                       ? MF_TEXT("chunk starts past the bytes received (a chunk was lost)")
                       : MF_TEXT("chunk overlaps the bytes received"));
        return;
    }
    if (first == have) {
        t0 = mf_cycles_now64();
        mf_rnn_push(req->payload + 4u, n);
        bag_ticks += mf_cycles_now64() - t0;
    }
    mf_reply_begin(req, 6);
    mf_link_put_u32(mf_rnn_bytes());
    mf_link_put_u16(mf_rnn_state()->instances);
    mf_link_end();
}

/* no payload -> reply: class u8, instances u16, steps u32, ticks u64, reported u8, then
 * reported x (class u8, exit_step u16) for the first instances. Ending an ended bag repeats
 * the reply; ERROR OVERFLOW instead when the bag broke a memory guard. */
static void on_end(const mf_frame *req)
{
    const mf_rnn_bag *b = mf_rnn_state();
    const char *why;
    uint64_t t0;
    uint8_t i, reported;
    if (req->len != 0u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, MF_TEXT("BAG_END takes no payload"));
        return;
    }
    if (bag_state == BAG_NONE || b->frames == 0u) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, MF_TEXT("no frames in the bag: send BAG_BEGIN and BAG_FRAMES"));
        return;
    }
    if (bag_state == BAG_OPEN && mf_rnn_bytes() % MF_RNN_FRAME_BYTES != 0u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, MF_TEXT("the bag ends within a frame: send the rest of it"));
        return;
    }
    if (bag_state == BAG_OPEN) {
        t0 = mf_cycles_now64();
        bag_class = mf_rnn_end();
        bag_ticks += mf_cycles_now64() - t0;
        bag_state = BAG_ENDED;
    }
    if (mf_guard_check(&why) != 0u) {
        mf_reply_error(req, MF_ERR_OVERFLOW, why);
        return;
    }
    reported = (uint8_t)(b->instances < MF_RNN_REPORT_INSTANCES ? b->instances : MF_RNN_REPORT_INSTANCES);
    mf_reply_begin(req, (uint16_t)(END_FIXED_BYTES + 3u * reported));
    mf_link_put_u8(bag_class);
    mf_link_put_u16(b->instances);
    mf_link_put_u32(b->steps);
    mf_link_put_u64(bag_ticks);
    mf_link_put_u8(reported);
    for (i = 0; i < reported; ++i) {
        mf_link_put_u8(b->classes[i]);
        mf_link_put_u16(b->exit_steps[i]);
    }
    mf_link_end();
}

#if MF_RNN_AUDIO
/* Audio in (the project has the "frontend" extension too): AUDIO_BEGIN / AUDIO_CHUNK / AUDIO_END
 * stream a clip, each log-mel frame goes into the instances as it completes (no clip of
 * features is kept), and BAG_END answers as for frames. The bag is the clip's frames. */
#include "mf_frontend.h"

#if MF_RNN_INPUT_DIM != MF_FRONTEND_MELS
#error "the RNN's frames are not the front end's mel bands"
#endif

#if MF_RNN_FRAME_Q
/* float -> int16 Q(MF_RNN_FRAME_FRAC), round half to even, saturated: the host's
 * mcuforge.ops._fixed_rnn.quantize (x * 2^frac is exact in float32). */
static int16_t to_q(float x)
{
    const float v = x * (float)(1L << MF_RNN_FRAME_FRAC);
    int32_t t;
    float f;
    if (!(v < 32767.0f)) {
        return 32767;
    }
    if (!(v > -32768.0f)) {
        return -32768;
    }
    t = (int32_t)v; /* toward zero; v - t is exact below 2^23 */
    f = v - (float)t;
    if (f > 0.5f || (f == 0.5f && (t & 1) != 0)) {
        t++;
    } else if (f < -0.5f || (f == -0.5f && (t & 1) != 0)) {
        t--;
    }
    return (int16_t)t;
}
#endif

static void on_audio_frame(const float *mels, uint32_t index)
{
    const uint64_t t0 = mf_cycles_now64();
#if MF_RNN_FRAME_Q
    int16_t q[MF_RNN_INPUT_DIM];
    uint32_t i;
#endif
    if (index == 0u) { /* a new clip: a new bag of the clip's frames */
        mf_rnn_begin(MF_FRONTEND_FRAMES);
        bag_ticks = 0;
        bag_state = BAG_OPEN;
    }
    if (bag_state != BAG_OPEN) {
        return;
    }
#if MF_RNN_FRAME_Q
    for (i = 0; i < MF_RNN_INPUT_DIM; ++i) {
        q[i] = to_q(mels[i]);
    }
    mf_rnn_push((const uint8_t *)q, MF_RNN_FRAME_BYTES);
#else
    mf_rnn_push((const uint8_t *)mels, MF_RNN_FRAME_BYTES); /* float32 frames as they are */
#endif
    bag_ticks += mf_cycles_now64() - t0;
}
#endif

static const mf_link_route routes[] MF_CONST = {
    {MF_MSG_RNN_INFO, on_info},
    {MF_MSG_BAG_BEGIN, on_begin},
    {MF_MSG_BAG_FRAMES, on_frames},
    {MF_MSG_BAG_END, on_end},
};

void mf_ext_rnn_register(void)
{
    (void)MF_LINK_REGISTER_ROUTES(routes);
#if MF_RNN_AUDIO
    mf_frontend_on_frame(on_audio_frame);
#endif
}
