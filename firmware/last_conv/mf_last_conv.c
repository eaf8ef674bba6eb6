/* The last conv, its pool and the trained slice (see mf_last_conv.h), and its link messages
 * (types 0x2B..0x2E, docs/protocol.md "Extension last_conv"). TRAIN, PREDICT and LEARN_RESET stay
 * the learning extension's: with MF_HEAD_LAST_CONV it takes its embedding from here. */
#include <string.h>

#define MF_LC_CONFIG_DEFINE_DATA /* the flash weights and step constants live in this file only */
#include "mf_last_conv.h"

#include "bconv2d_int8w_update.h"
#include "mf_bits.h"
#include "mf_const.h"
#include "mf_dot.h"
#include "mf_model_api.h"
#include "mf_runtime.h"

#define MASK_BYTES ((MF_LC_POSITIONS + 7) / 8)
#define RUN4 (MF_LC_IN_C & ~3)

enum {
    MSG_LAST_CONV_INFO = 0x2B,
    MSG_LAST_CONV_CONFIG = 0x2C,
    MSG_SET_FEATURES = 0x2D,
    MSG_READ_LAST_CONV = 0x2E,
    MSG_WRITE_LAST_CONV = 0x2F
};

mf_last_conv_state mf_last_conv;

static int16_t win[MF_LC_IN_C];                    /* +-1 inputs of one position (mf_dot.h layout) */
static uint8_t pass_bits[MF_LC_CHANNELS][MASK_BYTES]; /* where the slice's ReLU passed (y > 0) */
static float pass[MF_LC_POSITIONS];                /* one channel's pass as the update kernel reads it */
static const uint32_t *embedded;                   /* the features of the last embed (model output 0) */
static uint8_t training = 1;
static uint8_t teacher_on = MF_LC_DEFAULT_TEACHER;

/* One channel's whole step: its own parameters, so the kernel runs one row at a time. */
static const int16_t row0 MF_CONST = 0;
static const mf_bconv2d_int8w_update_params one_row MF_CONST = {
    MF_LC_POSITIONS, 1, MF_LC_IN_C, 1, MF_LC_INV_COUNT, MF_LC_INV_GRAD_SCALE, MF_LC_OFFSET_LR};

void mf_last_conv_reset(void)
{
    int32_t j, k;
    for (j = 0; j < MF_LC_CHANNELS; ++j) {
        const int32_t c = mf_ld_s16(&mf_lc_channels[j]);
        for (k = 0; k < MF_LC_IN_C; ++k) {
            mf_last_conv.filter[j * MF_LC_IN_C + k] = mf_ld_s8(&mf_lc_filter[c * MF_LC_IN_C + k]);
            mf_last_conv.residual[j * MF_LC_IN_C + k] = 0;
        }
        mf_last_conv.offset[j] = mf_ld_f32(&mf_lc_offset[c]);
    }
    embedded = 0;
    training = 1;
    teacher_on = MF_LC_DEFAULT_TEACHER;
}

int mf_last_conv_training(void)
{
    return training;
}

int mf_last_conv_teacher(void)
{
    return teacher_on;
}

uint32_t mf_last_conv_ram_bytes(void)
{
    return (uint32_t)(sizeof(mf_last_conv) + sizeof(win) + sizeof(pass_bits) + sizeof(pass));
}

/* bconv2d_int8w's epilogue: scale*acc, then +offset (two roundings), then the ReLU. */
static float affine_relu(float scale, int32_t acc, float offset)
{
    const float prod = scale * (float)acc;
    const float y = prod + offset;
    return y > 0.0f ? y : 0.0f;
}

/* The dot product of a RAM row (mf_dot_s8_s16 reads its weights as MF_CONST). */
static int32_t dot_ram(const int8_t *w)
{
    int32_t k, acc = 0;
    for (k = 0; k < MF_LC_IN_C; ++k) {
        acc += (int32_t)w[k] * win[MF_WIN_POS(k, RUN4)];
    }
    return acc;
}

void mf_last_conv_embed(const uint32_t *features, float *embedding, float *teacher)
{
    int32_t p, c, k;
    for (c = 0; c < MF_LC_OUT_C; ++c) {
        embedding[c] = 0.0f;
        if (teacher) {
            teacher[c] = 0.0f;
        }
    }
    memset(pass_bits, 0, sizeof(pass_bits));
    for (p = 0; p < MF_LC_POSITIONS; ++p) {
        const uint32_t *x = features + p * MF_LC_WORDS;
        int32_t j = 0; /* the slice's rows, in channel order */
        for (k = 0; k < MF_LC_IN_C; ++k) {
            win[MF_WIN_POS(k, RUN4)] = (int16_t)(2 * (int32_t)mf_bits_get(x, k) - 1);
        }
        for (c = 0; c < MF_LC_OUT_C; ++c) {
            const float scale = mf_ld_f32(&mf_lc_scale[c]);
            const int trained = j < MF_LC_CHANNELS && mf_ld_s16(&mf_lc_channels[j]) == c;
            float frozen = 0.0f, y;
            if (!trained || teacher) {
                frozen = affine_relu(scale, mf_dot_s8_s16(mf_lc_filter + c * MF_LC_IN_C, win, MF_LC_IN_C, 0),
                                     mf_ld_f32(&mf_lc_offset[c]));
            }
            if (trained) {
                y = affine_relu(scale, dot_ram(mf_last_conv.filter + j * MF_LC_IN_C), mf_last_conv.offset[j]);
                if (y > 0.0f) {
                    pass_bits[j][p >> 3] |= (uint8_t)(1u << (p & 7));
                }
                ++j;
            } else {
                y = frozen;
            }
            embedding[c] = embedding[c] + y; /* mean_f32's order: positions in turn */
            if (teacher) {
                teacher[c] = teacher[c] + frozen;
            }
        }
    }
    for (c = 0; c < MF_LC_OUT_C; ++c) {
        embedding[c] = embedding[c] * MF_LC_INV_COUNT;
        if (teacher) {
            teacher[c] = teacher[c] * MF_LC_INV_COUNT;
        }
    }
    embedded = features;
}

void mf_last_conv_step(const float *grad_embedding)
{
    int32_t j, p;
    if (!training || embedded == 0) {
        return;
    }
    for (j = 0; j < MF_LC_CHANNELS; ++j) {
        const int32_t c = mf_ld_s16(&mf_lc_channels[j]);
        for (p = 0; p < MF_LC_POSITIONS; ++p) {
            pass[p] = (pass_bits[j][p >> 3] >> (p & 7)) & 1u ? 1.0f : 0.0f;
        }
        mf_bconv2d_int8w_update(&one_row, &grad_embedding[c], pass, embedded, &mf_last_conv.filter[j * MF_LC_IN_C],
                                &mf_last_conv.residual[j * MF_LC_IN_C], &mf_last_conv.offset[j],
                                &mf_lc_slice_scale[j], &mf_lc_step_mult[j], &mf_lc_step_shift[j], &row0);
    }
}

/* ---- link messages ------------------------------------------------------------------------ */

static int features_output(const mf_frame *req)
{
    const mf_io *out = &mf_model_outputs[0];
    if (mf_model_num_outputs < 1u || out->dtype != MF_DTYPE_UINT32 ||
        out->bytes != 4u * MF_LC_POSITIONS * MF_LC_WORDS) {
        mf_reply_error(req, MF_ERR_BAD_INDEX, "model output 0 is not the last conv's packed input");
        return 0;
    }
    return 1;
}

/* reply: out_c u16, in_c u16, positions u16, channels u16, training u8, teacher u8,
 * ram_bytes u32, state_bytes u32 */
static void on_info(const mf_frame *req)
{
    if (req->len != 0u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, "LAST_CONV_INFO takes no payload");
        return;
    }
    mf_reply_begin(req, 18);
    mf_link_put_u16(MF_LC_OUT_C);
    mf_link_put_u16(MF_LC_IN_C);
    mf_link_put_u16(MF_LC_POSITIONS);
    mf_link_put_u16(MF_LC_CHANNELS);
    mf_link_put_u8(training);
    mf_link_put_u8(teacher_on);
    mf_link_put_u32(mf_last_conv_ram_bytes());
    mf_link_put_u32((uint32_t)sizeof(mf_last_conv));
    mf_link_end();
}

/* payload: empty (query) or training u8, teacher u8 (each 0 or 1) -> reply: training u8, teacher u8 */
static void on_config(const mf_frame *req)
{
    if (req->len == 2u) {
        if (req->payload[0] > 1u || req->payload[1] > 1u) {
            mf_reply_error(req, MF_ERR_OUT_OF_RANGE, "LAST_CONV_CONFIG takes training and teacher as 0 or 1");
            return;
        }
        training = req->payload[0];
        teacher_on = req->payload[1];
    } else if (req->len != 0u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, "LAST_CONV_CONFIG takes nothing or training u8, teacher u8");
        return;
    }
    mf_reply_begin(req, 2);
    mf_link_put_u8(training);
    mf_link_put_u8(teacher_on);
    mf_link_end();
}

/* payload: offset u32, bytes -> copied into dst[0..size) at offset; reply: empty. */
static void write_at(const mf_frame *req, uint8_t *dst, uint32_t size, const char *too_short, const char *past_end)
{
    uint32_t offset, n;
    if (req->len < 5u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, too_short);
        return;
    }
    offset = mf_link_get_u32(req->payload);
    n = req->len - 4u;
    if (offset > size || n > size - offset) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, past_end);
        return;
    }
    memcpy(dst + offset, req->payload + 4, n);
    mf_reply_begin(req, 0);
    mf_link_end();
}

/* The features written into model output 0, as if INVOKE had computed them: replays features
 * this firmware computed earlier. */
static void on_set_features(const mf_frame *req)
{
    if (features_output(req)) {
        write_at(req, (uint8_t *)mf_model_outputs[0].data, mf_model_outputs[0].bytes,
                 "SET_FEATURES needs offset, bytes", "SET_FEATURES past the end of the features");
    }
}

/* The slice state written back (a checkpoint READ_LAST_CONV took): the host restores it after
 * the head's WRITE_STATE. */
static void on_write(const mf_frame *req)
{
    write_at(req, (uint8_t *)&mf_last_conv, (uint32_t)sizeof(mf_last_conv),
             "WRITE_LAST_CONV needs offset, bytes", "WRITE_LAST_CONV past the end of the slice state");
}

/* payload: offset u32, length u16 -> reply: the slice state's bytes (mf_last_conv_state) */
static void on_read(const mf_frame *req)
{
    uint32_t offset, n;
    if (req->len != 6u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, "READ_LAST_CONV needs offset, length");
        return;
    }
    offset = mf_link_get_u32(req->payload);
    n = mf_link_get_u16(req->payload + 4);
    if (n > MF_LINK_MAX_PAYLOAD || offset > sizeof(mf_last_conv) || n > sizeof(mf_last_conv) - offset) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, "offset+length past the slice state or max payload");
        return;
    }
    mf_reply_begin(req, (uint16_t)n);
    mf_link_put((const uint8_t *)&mf_last_conv + offset, n);
    mf_link_end();
}

static const mf_link_route routes[] MF_CONST = {
    {MSG_LAST_CONV_INFO, on_info},
    {MSG_LAST_CONV_CONFIG, on_config},
    {MSG_SET_FEATURES, on_set_features},
    {MSG_READ_LAST_CONV, on_read},
    {MSG_WRITE_LAST_CONV, on_write},
};

void mf_ext_last_conv_register(void)
{
    mf_last_conv_reset();
    (void)MF_LINK_REGISTER_ROUTES(routes);
}
