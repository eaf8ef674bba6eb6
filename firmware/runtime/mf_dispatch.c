#include "mf_board.h"
#include "mf_cycles.h"
#include "mf_runtime.h"

static mf_link_route handlers[MF_LINK_MAX_HANDLERS];
static uint32_t handler_count;
static mf_link_parser parser;
static uint8_t discarding; /* after an oversized length: drop bytes until the line idles */
static uint8_t current_seq;
static uint8_t current_type;

int mf_link_register(uint8_t type, mf_link_handler handler)
{
    uint32_t i;
    if (handler == 0 || type == MF_MSG_ERROR || (type & MF_MSG_REPLY) != 0u ||
        handler_count >= MF_LINK_MAX_HANDLERS) {
        return -1;
    }
    for (i = 0; i < handler_count; i++) {
        if (handlers[i].type == type) {
            return -1;
        }
    }
    handlers[handler_count].type = type;
    handlers[handler_count].handler = handler;
    handler_count++;
    return 0;
}

uint32_t mf_link_register_routes(const mf_link_route *routes, uint32_t count)
{
    uint32_t i, refused = 0;
    for (i = 0; i < count; i++) {
        mf_link_route r;
        mf_copy_const(&r, &routes[i], sizeof r); /* the table is MF_CONST */
        refused += mf_link_register(r.type, r.handler) != 0 ? 1u : 0u;
    }
    return refused;
}

uint32_t mf_link_handler_count(void)
{
    return handler_count;
}

uint8_t mf_link_handler_type(uint32_t i)
{
    return i < handler_count ? handlers[i].type : 0u;
}

uint8_t mf_runtime_current_seq(void)
{
    return current_seq;
}

uint8_t mf_runtime_current_type(void)
{
    return current_type;
}

void mf_reply_begin(const mf_frame *req, uint16_t len)
{
    mf_link_begin((uint8_t)(req->type | MF_MSG_REPLY), req->seq, len);
}

void mf_reply_error(const mf_frame *req, uint8_t code, const char *msg)
{
    mf_link_send_error(req->seq, code, req->type, msg);
}

void mf_link_tx_byte(uint8_t byte)
{
    mf_uart_putc(byte);
}

void mf_dispatch(const mf_frame *req)
{
    uint32_t i;
    current_seq = req->seq;
    current_type = req->type;
    for (i = 0; i < handler_count; i++) {
        if (handlers[i].type == req->type) {
            handlers[i].handler(req);
            return;
        }
    }
    mf_reply_error(req, MF_ERR_UNKNOWN_TYPE, MF_TEXT("unknown message type"));
}

void mf_runtime_serve_once(void)
{
    int c = mf_uart_getc(MF_LINK_BYTE_TIMEOUT_MS);
    int r;
    if (c < 0) {
        if (discarding) {
            discarding = 0;
        } else if (mf_link_parser_busy(&parser)) {
            if (mf_link_parser_has_header(&parser)) {
                mf_link_send_error(parser.frame.seq, MF_ERR_TRUNCATED, parser.frame.type,
                                   MF_TEXT("truncated frame"));
            }
            mf_link_parser_reset(&parser);
        }
        return;
    }
    if (discarding) {
        return;
    }
    r = mf_link_parser_feed(&parser, (uint8_t)c);
    if (r == MF_LINK_FRAME) {
        mf_dispatch(&parser.frame);
    } else if (r == MF_LINK_BAD_CRC) {
        mf_link_send_error(parser.frame.seq, MF_ERR_BAD_CRC, parser.frame.type, MF_TEXT("bad crc"));
    } else if (r == MF_LINK_TOO_LONG) {
        mf_link_send_error(parser.frame.seq, MF_ERR_TOO_LONG, parser.frame.type,
                           MF_TEXT("length over max payload"));
        mf_link_parser_reset(&parser);
        discarding = 1;
    }
}

void mf_runtime_start(void)
{
    mf_board_init();
    mf_cycles_init();
    mf_uart_init();
    mf_handlers_core_register();
    mf_extensions_register();
    /* Unsolicited HELLO (seq 0): tells a host attached from boot that we are ready. */
    mf_send_hello(0);
}
