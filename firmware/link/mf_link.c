#include "mf_link.h"

enum { ST_SYNC0, ST_SYNC1, ST_HEADER, ST_PAYLOAD, ST_CRC };

uint16_t mf_crc16_update(uint16_t crc, uint8_t byte)
{
    int i;
    crc ^= (uint16_t)((uint16_t)byte << 8);
    for (i = 0; i < 8; i++) {
        crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint16_t mf_crc16(const uint8_t *data, uint32_t n)
{
    uint16_t crc = 0xFFFFu;
    uint32_t i;
    for (i = 0; i < n; i++) {
        crc = mf_crc16_update(crc, data[i]);
    }
    return crc;
}

void mf_link_parser_reset(mf_link_parser *p)
{
    p->state = ST_SYNC0;
    p->pos = 0;
    p->crc = 0xFFFFu;
    p->rx_crc = 0;
}

int mf_link_parser_busy(const mf_link_parser *p)
{
    return p->state != ST_SYNC0;
}

int mf_link_parser_has_header(const mf_link_parser *p)
{
    return p->state == ST_PAYLOAD || p->state == ST_CRC;
}

int mf_link_parser_feed(mf_link_parser *p, uint8_t byte)
{
    switch (p->state) {
    case ST_SYNC0:
        if (byte == MF_LINK_SYNC0) {
            p->state = ST_SYNC1;
        }
        return MF_LINK_MORE;
    case ST_SYNC1:
        if (byte == MF_LINK_SYNC1) {
            p->state = ST_HEADER;
            p->pos = 0;
            p->crc = 0xFFFFu;
        } else if (byte != MF_LINK_SYNC0) { /* A5 A5 5A still syncs */
            p->state = ST_SYNC0;
        }
        return MF_LINK_MORE;
    case ST_HEADER:
        p->crc = mf_crc16_update(p->crc, byte);
        if (p->pos == 0) {
            p->frame.type = byte;
        } else if (p->pos == 1) {
            p->frame.seq = byte;
        } else if (p->pos == 2) {
            p->frame.len = byte;
        } else {
            p->frame.len = (uint16_t)(p->frame.len | ((uint16_t)byte << 8));
            if (p->frame.len > MF_LINK_MAX_PAYLOAD) {
                p->state = ST_SYNC0;
                return MF_LINK_TOO_LONG;
            }
            p->state = p->frame.len ? ST_PAYLOAD : ST_CRC;
            p->pos = 0;
            return MF_LINK_MORE;
        }
        p->pos++;
        return MF_LINK_MORE;
    case ST_PAYLOAD:
        p->crc = mf_crc16_update(p->crc, byte);
        p->frame.payload[p->pos++] = byte;
        if (p->pos == p->frame.len) {
            p->state = ST_CRC;
            p->pos = 0;
        }
        return MF_LINK_MORE;
    default: /* ST_CRC */
        if (p->pos == 0) {
            p->rx_crc = byte;
            p->pos = 1;
            return MF_LINK_MORE;
        }
        p->rx_crc = (uint16_t)(p->rx_crc | ((uint16_t)byte << 8));
        p->state = ST_SYNC0;
        return p->rx_crc == p->crc ? MF_LINK_FRAME : MF_LINK_BAD_CRC;
    }
}

/* Transmit state of the one reply being streamed. */
static uint16_t tx_crc;
static uint16_t tx_left;

static void tx_raw(uint8_t byte)
{
    tx_crc = mf_crc16_update(tx_crc, byte);
    mf_link_tx_byte(byte);
}

void mf_link_begin(uint8_t type, uint8_t seq, uint16_t len)
{
    mf_link_tx_byte(MF_LINK_SYNC0);
    mf_link_tx_byte(MF_LINK_SYNC1);
    tx_crc = 0xFFFFu;
    tx_raw(type);
    tx_raw(seq);
    tx_raw((uint8_t)(len & 0xFFu));
    tx_raw((uint8_t)(len >> 8));
    tx_left = len;
}

void mf_link_put(const void *data, uint32_t n)
{
    const uint8_t *b = (const uint8_t *)data;
    uint32_t i;
    for (i = 0; i < n && tx_left > 0; i++, tx_left--) {
        tx_raw(b[i]);
    }
}

void mf_link_put_u8(uint8_t v)
{
    mf_link_put(&v, 1);
}

void mf_link_put_u16(uint16_t v)
{
    uint8_t b[2];
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    mf_link_put(b, 2);
}

void mf_link_put_u32(uint32_t v)
{
    mf_link_put_u16((uint16_t)v);
    mf_link_put_u16((uint16_t)(v >> 16));
}

void mf_link_put_u64(uint64_t v)
{
    mf_link_put_u32((uint32_t)v);
    mf_link_put_u32((uint32_t)(v >> 32));
}

static uint8_t str_len(const char *s, uint8_t max_len)
{
    uint8_t n = 0;
    while (n < max_len && mf_text_at(s, n) != '\0') {
        n++;
    }
    return n;
}

uint16_t mf_link_str_size(const char *s, uint8_t max_len)
{
    return (uint16_t)(1u + str_len(s, max_len));
}

static void put_text(const char *s, uint8_t n)
{
    uint8_t i;
    for (i = 0; i < n; i++) {
        mf_link_put_u8((uint8_t)mf_text_at(s, i));
    }
}

void mf_link_put_str(const char *s, uint8_t max_len)
{
    uint8_t n = str_len(s, max_len);
    mf_link_put_u8(n);
    put_text(s, n);
}

void mf_link_end(void)
{
    uint16_t crc;
    while (tx_left > 0) {
        tx_raw(0);
        tx_left--;
    }
    crc = tx_crc;
    mf_link_tx_byte((uint8_t)(crc & 0xFFu));
    mf_link_tx_byte((uint8_t)(crc >> 8));
}

void mf_link_send_error(uint8_t seq, uint8_t code, uint8_t request_type, const char *msg)
{
    uint8_t n = str_len(msg, 120);
    mf_link_begin(MF_MSG_ERROR, seq, (uint16_t)(2u + n));
    mf_link_put_u8(code);
    mf_link_put_u8(request_type);
    put_text(msg, n);
    mf_link_end();
}

uint16_t mf_link_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}

uint32_t mf_link_get_u32(const uint8_t *p)
{
    return (uint32_t)mf_link_get_u16(p) | ((uint32_t)mf_link_get_u16(p + 2) << 16);
}
