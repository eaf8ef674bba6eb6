/* The core link messages (docs/protocol.md): HELLO, PING, WRITE_INPUT, INVOKE,
 * READ_OUTPUT, READ_PROFILE, EXIT. */
#include <string.h>

#include "mf_board.h"
#include "mf_cycles.h"
#include "mf_guard.h"
#include "mf_model_api.h"
#include "mf_profile.h"
#include "mf_runtime.h"

#define NAME_MAX_BYTES 32u /* strings in HELLO/READ_PROFILE are cut to this */

#if MF_PROFILE
uint32_t mf_profile_t0;
#endif

/* The number the host gave in its last HELLO request; 0 after every boot (.bss), so an
 * INVOKE or READ_OUTPUT reply tells the host the board restarted even when the boot HELLO
 * was lost. */
static uint32_t session;

static uint16_t hello_size(void)
{
    uint32_t n = 1u + 1u + 2u + 4u + 4u + 2u;
    n += mf_link_str_size(MF_TEXT(MF_BOARD_NAME), NAME_MAX_BYTES);
    n += mf_link_str_size(mf_firmware_hash, NAME_MAX_BYTES);
    n += mf_link_str_size(mf_model_name, NAME_MAX_BYTES);
    n += mf_link_str_size(mf_cycles_kind_name(), NAME_MAX_BYTES);
    n += 1u + 5u * mf_model_num_inputs;
    n += 1u + 5u * mf_model_num_outputs;
    n += 1u + mf_link_handler_count();
    n += 4u + 4u + 1u; /* stack bytes, stack high water, guard status */
    n += 4u;           /* session */
    return (uint16_t)n;
}

static void put_ios(const mf_io *ios, uint32_t count)
{
    uint32_t i;
    mf_link_put_u8((uint8_t)count);
    for (i = 0; i < count; i++) {
        mf_link_put_u8(ios[i].dtype);
        mf_link_put_u32(ios[i].bytes);
    }
}

void mf_send_hello(uint8_t seq)
{
    uint32_t i;
    uint8_t flags = 0;
#if MF_EXIT_SEMIHOSTING
    flags |= MF_HELLO_FLAG_SEMIHOSTING;
#endif
#if MF_PROFILE
    flags |= MF_HELLO_FLAG_PROFILE;
#endif
    mf_link_begin((uint8_t)(MF_MSG_HELLO | MF_MSG_REPLY), seq, hello_size());
    mf_link_put_u8(MF_LINK_VERSION);
    mf_link_put_u8(flags);
    mf_link_put_u16(MF_LINK_MAX_PAYLOAD);
    mf_link_put_u32(mf_board_clock_hz());
    mf_link_put_u32(mf_arena_bytes);
    mf_link_put_u16((uint16_t)mf_model_num_layers);
    mf_link_put_str(MF_TEXT(MF_BOARD_NAME), NAME_MAX_BYTES);
    mf_link_put_str(mf_firmware_hash, NAME_MAX_BYTES);
    mf_link_put_str(mf_model_name, NAME_MAX_BYTES);
    mf_link_put_str(mf_cycles_kind_name(), NAME_MAX_BYTES);
    put_ios(mf_model_inputs, mf_model_num_inputs);
    put_ios(mf_model_outputs, mf_model_num_outputs);
    mf_link_put_u8((uint8_t)mf_link_handler_count());
    for (i = 0; i < mf_link_handler_count(); i++) {
        mf_link_put_u8(mf_link_handler_type(i));
    }
    mf_link_put_u32(mf_guard_stack_bytes());
    mf_link_put_u32(mf_guard_stack_high_water());
    mf_link_put_u8(mf_guard_check(0));
    mf_link_put_u32(session);
    mf_link_end();
}

/* payload: none (a query) or session u32 (kept, and echoed in HELLO and INVOKE replies) */
static void on_hello(const mf_frame *req)
{
    if (req->len == 4u) {
        session = mf_link_get_u32(req->payload);
    } else if (req->len != 0u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, MF_TEXT("HELLO takes nothing or a session u32"));
        return;
    }
    mf_send_hello(req->seq);
}

static void on_ping(const mf_frame *req)
{
    mf_reply_begin(req, req->len);
    mf_link_put(req->payload, req->len);
    mf_link_end();
}

/* Checks index and [offset, offset+n) against a tensor; replies with the error if bad. */
static const mf_io *checked_io(const mf_frame *req, const mf_io *ios, uint32_t count,
                               uint8_t index, uint32_t offset, uint32_t n)
{
    if (index >= count) {
        mf_reply_error(req, MF_ERR_BAD_INDEX, MF_TEXT("tensor index out of range"));
        return 0;
    }
    if (offset > ios[index].bytes || n > ios[index].bytes - offset) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, MF_TEXT("offset+length past tensor end"));
        return 0;
    }
    return &ios[index];
}

/* payload: index u8, offset u32, data */
static void on_write_input(const mf_frame *req)
{
    const mf_io *io;
    uint32_t offset, n;
    if (req->len < 5u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, MF_TEXT("WRITE_INPUT needs index, offset"));
        return;
    }
    offset = mf_link_get_u32(req->payload + 1);
    n = req->len - 5u;
    io = checked_io(req, mf_model_inputs, mf_model_num_inputs, req->payload[0], offset, n);
    if (io == 0) {
        return;
    }
    memcpy((uint8_t *)io->data + offset, req->payload + 5, n);
    mf_reply_begin(req, 0);
    mf_link_end();
}

/* reply: status i32, cycles u64 (mf_cycles ticks for the whole invoke), session u32; ERROR OVERFLOW
 * instead when the invoke broke a memory guard (its outputs cannot be trusted). */
static void on_invoke(const mf_frame *req)
{
    uint64_t t0, t1;
    int status;
    const char *why;
    if (req->len != 0u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, MF_TEXT("INVOKE takes no payload"));
        return;
    }
    t0 = mf_cycles_now64();
    status = mf_model_invoke();
    t1 = mf_cycles_now64();
    if (mf_guard_check(&why) != 0u) {
        mf_reply_error(req, MF_ERR_OVERFLOW, why);
        return;
    }
    mf_reply_begin(req, 16);
    mf_link_put_u32((uint32_t)status);
    mf_link_put_u64(t1 - t0);
    mf_link_put_u32(session);
    mf_link_end();
}

/* payload: index u8, offset u32, length u16 -> reply: session u32, the bytes */
static void on_read_output(const mf_frame *req)
{
    const mf_io *io;
    uint32_t offset, n;
    if (req->len != 7u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, MF_TEXT("READ_OUTPUT needs index, offset, length"));
        return;
    }
    offset = mf_link_get_u32(req->payload + 1);
    n = mf_link_get_u16(req->payload + 5);
    if (n > MF_LINK_MAX_PAYLOAD - 4u) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, MF_TEXT("length over max payload - 4"));
        return;
    }
    io = checked_io(req, mf_model_outputs, mf_model_num_outputs, req->payload[0], offset, n);
    if (io == 0) {
        return;
    }
    mf_reply_begin(req, (uint16_t)(n + 4u));
    mf_link_put_u32(session);
    mf_link_put((const uint8_t *)io->data + offset, n);
    mf_link_end();
}

/* payload: first layer u16 -> reply: first u16, count u16, total u16, then count x
 * (cycles u32, op name str); as many layers as fit in the max payload. */
static void on_read_profile(const mf_frame *req)
{
    uint32_t first, count = 0, size = 6, i;
    if (req->len != 2u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, MF_TEXT("READ_PROFILE needs first layer"));
        return;
    }
    first = mf_link_get_u16(req->payload);
    if (first > mf_model_num_layers) {
        mf_reply_error(req, MF_ERR_OUT_OF_RANGE, MF_TEXT("first layer past last layer"));
        return;
    }
    for (i = first; i < mf_model_num_layers; i++) {
        uint32_t entry = 4u + mf_link_str_size(mf_layer_ops[i], NAME_MAX_BYTES);
        if (size + entry > MF_LINK_MAX_PAYLOAD) {
            break;
        }
        size += entry;
        count++;
    }
    mf_reply_begin(req, (uint16_t)size);
    mf_link_put_u16((uint16_t)first);
    mf_link_put_u16((uint16_t)count);
    mf_link_put_u16((uint16_t)mf_model_num_layers);
    for (i = first; i < first + count; i++) {
        mf_link_put_u32(mf_layer_cycles[i]);
        mf_link_put_str(mf_layer_ops[i], NAME_MAX_BYTES);
    }
    mf_link_end();
}

/* payload: code i32 -> empty reply, then the program ends. */
static void on_exit(const mf_frame *req)
{
    int code;
    if (req->len != 4u) {
        mf_reply_error(req, MF_ERR_BAD_LENGTH, MF_TEXT("EXIT needs a code"));
        return;
    }
    code = (int)mf_link_get_u32(req->payload);
    mf_reply_begin(req, 0);
    mf_link_end();
    mf_uart_flush();
    mf_board_exit(code);
}

static const mf_link_route routes[] MF_CONST = {
    {MF_MSG_HELLO, on_hello},
    {MF_MSG_PING, on_ping},
    {MF_MSG_WRITE_INPUT, on_write_input},
    {MF_MSG_INVOKE, on_invoke},
    {MF_MSG_READ_OUTPUT, on_read_output},
    {MF_MSG_READ_PROFILE, on_read_profile},
    {MF_MSG_EXIT, on_exit},
};

void mf_handlers_core_register(void)
{
    mf_guard_init(); /* at boot, from main: the stack below is still unused */
    (void)MF_LINK_REGISTER_ROUTES(routes);
}
