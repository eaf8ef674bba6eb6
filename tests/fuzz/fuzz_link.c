/* libFuzzer target: the firmware's link parser, dispatcher and every message handler (core,
 * frontend, learning, RNN), built for the host with ASan/UBSan (tests/fuzz_firmware.py).
 *
 * Input: byte 0 picks the mode.
 *   even: the rest is the raw byte stream the UART receives (noise, partial frames, ...);
 *   odd:  the rest is records `type u8, seq u8, len u16le, payload`, each sent as a frame with
 *         a correct CRC (payload cut to what the input holds; a len over the max payload is
 *         sent as a header alone), the line idling after each one, as a host would.
 * Every input starts from the same state (parser reset, head reset, a clip and a bag just
 * opened, arena zeroed, guards refilled); host_board.c checks every reply is a well-made frame. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "host_board.h"
#include "mf_guard.h"
#include "mf_model_api.h"
#include "mf_runtime.h"

void mf_ext_frontend_register(void);
void mf_ext_learning_register(void);
void mf_ext_rnn_register(void);

void mf_extensions_register(void)
{
    mf_ext_frontend_register();
    mf_ext_learning_register();
    mf_ext_rnn_register();
}

static uint8_t frame_buf[6u + 65535u + 2u];

static void serve_all(void)
{
    while (host_board_rx_left()) {
        mf_runtime_serve_once();
    }
    mf_runtime_serve_once(); /* the line idles: a partial frame is dropped */
    host_board_check_idle();
}

static void send_record(uint8_t type, uint8_t seq, uint32_t declared, const uint8_t *payload,
                        uint32_t have)
{
    uint32_t n = declared <= MF_LINK_MAX_PAYLOAD ? (declared < have ? declared : have) : 0u;
    uint32_t len = declared <= MF_LINK_MAX_PAYLOAD ? n : declared;
    uint16_t crc;
    frame_buf[0] = MF_LINK_SYNC0;
    frame_buf[1] = MF_LINK_SYNC1;
    frame_buf[2] = type;
    frame_buf[3] = seq;
    frame_buf[4] = (uint8_t)len;
    frame_buf[5] = (uint8_t)(len >> 8);
    memcpy(frame_buf + 6, payload, n);
    crc = mf_crc16(frame_buf + 2, 4u + n);
    frame_buf[6 + n] = (uint8_t)crc;
    frame_buf[7 + n] = (uint8_t)(crc >> 8);
    host_board_feed(frame_buf, declared <= MF_LINK_MAX_PAYLOAD ? 8u + n : 6u);
    serve_all();
}

static void dispatch_empty(uint8_t type)
{
    static mf_frame f;
    f.type = type;
    f.seq = 0;
    f.len = 0;
    mf_dispatch(&f);
}

static void reset_state(void)
{
    uint32_t i;
    for (i = 0; i < mf_model_num_inputs; i++) {
        memset(mf_model_inputs[i].data, 0, mf_model_inputs[i].bytes);
    }
    for (i = 0; i < mf_model_num_outputs; i++) {
        memset(mf_model_outputs[i].data, 0, mf_model_outputs[i].bytes);
    }
    mf_guard_init();
    dispatch_empty(0x29); /* LEARN_RESET */
    dispatch_empty(0x11); /* AUDIO_BEGIN */
    dispatch_empty(0x31); /* BAG_BEGIN */
    mf_runtime_serve_once(); /* idle: the parser starts clean */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int started;
    volatile size_t pos = 1;
    if (!started) {
        mf_handlers_core_register();
        mf_extensions_register();
        started = 1;
    }
    if (size == 0) {
        return 0;
    }
    if (setjmp(host_exit_jump) != 0) {
        host_board_check_idle(); /* EXIT replied, then the "program ended" */
        return 0;
    }
    reset_state();
    if ((data[0] & 1u) == 0u) {
        host_board_feed(data + 1, size - 1);
        serve_all();
        return 0;
    }
    while (pos + 4u <= size) {
        size_t at = pos;
        uint32_t declared = (uint32_t)data[at + 2] | ((uint32_t)data[at + 3] << 8);
        size_t have = size - at - 4u;
        uint32_t used = declared <= MF_LINK_MAX_PAYLOAD ? (declared < have ? declared : (uint32_t)have) : 0u;
        pos = at + 4u + used;
        send_record(data[at], data[at + 1], declared, data + at + 4, (uint32_t)have);
    }
    return 0;
}
