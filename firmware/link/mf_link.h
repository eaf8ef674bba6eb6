/* mcuforge serial link, device side (spec: docs/protocol.md).
 *
 * Frame: A5 5A | type u8 | seq u8 | len u16le | payload[len] | crc16le
 * CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over type, seq, len and payload.
 *
 * RAM: one receive frame (MF_LINK_MAX_PAYLOAD + 6 bytes). Replies are streamed byte by
 * byte through mf_link_tx_byte() with a running CRC, so no transmit buffer exists and a
 * reply may be longer than MF_LINK_MAX_PAYLOAD. */
#ifndef MF_LINK_H
#define MF_LINK_H

#include <stdint.h>

/* A firmware project's generated mf_config.h sets MF_LINK_MAX_PAYLOAD from board.json; host
 * builds of the link alone (tests, fuzzers) have none and pass -D flags instead. */
#if defined(__has_include)
#if __has_include("mf_config.h")
#include "mf_config.h"
#endif
#endif

/* Fixed texts the link sends (error messages, the names in HELLO and READ_PROFILE) stay in
 * flash. On the AVR a string literal is copied to RAM at start-up unless it is placed in
 * program memory, which is then read with LPM: make such texts with MF_TEXT("...") (or
 * declare them MF_CONST) and the link reads every text it sends through mf_text_at(). On
 * Cortex-M both are plain, and any string will do. */
#if defined(__AVR__)
#include <avr/pgmspace.h>
#define MF_TEXT(s) PSTR(s)
static inline char mf_text_at(const char *s, uint8_t i)
{
    return (char)pgm_read_byte(s + i);
}
#else
#define MF_TEXT(s) (s)
static inline char mf_text_at(const char *s, uint8_t i)
{
    return s[i];
}
#endif

#define MF_LINK_VERSION 2 /* 2: the host's session number in HELLO and INVOKE replies */
#define MF_LINK_SYNC0 0xA5u
#define MF_LINK_SYNC1 0x5Au
#define MF_LINK_HEADER_BYTES 4u /* type, seq, len */

/* Largest request payload the device accepts (announced in HELLO). */
#ifndef MF_LINK_MAX_PAYLOAD
#define MF_LINK_MAX_PAYLOAD 256
#endif
/* >= 64: a READ_PROFILE reply must hold one layer (6 + 4 + 33 bytes). */
#if MF_LINK_MAX_PAYLOAD < 64 || MF_LINK_MAX_PAYLOAD > 65535
#error "MF_LINK_MAX_PAYLOAD must be in 64..65535"
#endif

/* Message types. A reply carries the request's type | MF_MSG_REPLY and its seq. */
enum {
    MF_MSG_HELLO = 0x01,
    MF_MSG_PING = 0x02,
    MF_MSG_WRITE_INPUT = 0x03,
    MF_MSG_INVOKE = 0x04,
    MF_MSG_READ_OUTPUT = 0x05,
    MF_MSG_READ_PROFILE = 0x06,
    MF_MSG_EXIT = 0x07,
    MF_MSG_ERROR = 0x7F /* device -> host only */
};
#define MF_MSG_REPLY 0x80u

/* ERROR payload: code u8, request type u8, ASCII message. */
enum {
    MF_ERR_BAD_CRC = 1,
    MF_ERR_TOO_LONG = 2,
    MF_ERR_TRUNCATED = 3,
    MF_ERR_UNKNOWN_TYPE = 4,
    MF_ERR_BAD_LENGTH = 5,
    MF_ERR_BAD_INDEX = 6,
    MF_ERR_OUT_OF_RANGE = 7,
    MF_ERR_INVOKE_FAILED = 8,
    MF_ERR_FAULT = 9,
    MF_ERR_OVERFLOW = 10 /* a memory guard broke during INVOKE (arena guard, stack end) */
};

typedef struct {
    uint8_t type;
    uint8_t seq;
    uint16_t len;
    uint8_t payload[MF_LINK_MAX_PAYLOAD];
} mf_frame;

/* Result of feeding one byte to the parser. */
enum {
    MF_LINK_MORE = 0,     /* nothing complete yet */
    MF_LINK_FRAME = 1,    /* parser->frame holds a checked frame */
    MF_LINK_BAD_CRC = -1, /* frame dropped; header fields still in parser->frame */
    MF_LINK_TOO_LONG = -2 /* length over MF_LINK_MAX_PAYLOAD; caller resyncs */
};

typedef struct {
    uint8_t state;
    uint16_t pos;
    uint16_t crc;
    uint16_t rx_crc;
    mf_frame frame;
} mf_link_parser;

uint16_t mf_crc16_update(uint16_t crc, uint8_t byte);
uint16_t mf_crc16(const uint8_t *data, uint32_t n);

void mf_link_parser_reset(mf_link_parser *p);
int mf_link_parser_feed(mf_link_parser *p, uint8_t byte);
/* True between a frame's first sync byte and its end (used for the inter-byte timeout). */
int mf_link_parser_busy(const mf_link_parser *p);
/* True once type/seq/len of the current frame have arrived. */
int mf_link_parser_has_header(const mf_link_parser *p);

/* Provided by the runtime: sends one byte on the link. */
void mf_link_tx_byte(uint8_t byte);

/* Streamed reply: begin(len) then exactly len bytes of put*(), then end(). end() pads
 * with zeros if fewer were put and drops any excess, so the frame is always well formed. */
void mf_link_begin(uint8_t type, uint8_t seq, uint16_t len);
void mf_link_put(const void *data, uint32_t n);
void mf_link_put_u8(uint8_t v);
void mf_link_put_u16(uint16_t v);
void mf_link_put_u32(uint32_t v);
void mf_link_put_u64(uint64_t v);
void mf_link_put_str(const char *s, uint8_t max_len); /* u8 length + bytes; s: a text (MF_TEXT) */
void mf_link_end(void);
/* Bytes a mf_link_put_str(s, max_len) takes. */
uint16_t mf_link_str_size(const char *s, uint8_t max_len);

/* msg: a text (MF_TEXT). */
void mf_link_send_error(uint8_t seq, uint8_t code, uint8_t request_type, const char *msg);

/* Little-endian readers for request payloads. */
uint16_t mf_link_get_u16(const uint8_t *p);
uint32_t mf_link_get_u32(const uint8_t *p);

#endif
