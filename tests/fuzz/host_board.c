/* A host "board" for the fuzz target (tests/fuzz/fuzz_link.c): the hooks of mf_board.h and
 * mf_cycles.h, with the UART fed from the fuzz input and every byte the firmware sends
 * checked to form well-made frames (sync, length, CRC): a reply that breaks framing is a
 * bug the target reports by aborting. EXIT jumps back to the harness. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include "host_board.h"
#include "mf_board.h"
#include "mf_cycles.h"
#include "mf_link.h"

static const uint8_t *rx_data;
static size_t rx_len, rx_pos;
static uint64_t ticks;
jmp_buf host_exit_jump;

/* Reply checker: the state of the frame the firmware is sending. */
enum { TX_SYNC0, TX_SYNC1, TX_HEADER, TX_PAYLOAD, TX_CRC };
static int tx_state;
static uint32_t tx_pos, tx_len;
static uint16_t tx_crc, tx_got;
static uint8_t tx_header[4];
static uint32_t tx_frames;

static void bad_reply(const char *why)
{
    fprintf(stderr, "host_board: firmware sent a malformed frame: %s\n", why);
    abort();
}

void host_board_feed(const uint8_t *data, size_t n)
{
    rx_data = data;
    rx_len = n;
    rx_pos = 0;
}

uint32_t host_board_frames_sent(void)
{
    return tx_frames;
}

void host_board_check_idle(void)
{
    if (tx_state != TX_SYNC0) {
        bad_reply("a reply frame was left unfinished");
    }
}

void mf_uart_putc(uint8_t byte)
{
    switch (tx_state) {
    case TX_SYNC0:
        if (byte != MF_LINK_SYNC0) {
            bad_reply("byte outside a frame");
        }
        tx_state = TX_SYNC1;
        break;
    case TX_SYNC1:
        if (byte != MF_LINK_SYNC1) {
            bad_reply("second sync byte");
        }
        tx_state = TX_HEADER;
        tx_pos = 0;
        tx_crc = 0xFFFFu;
        break;
    case TX_HEADER:
        tx_crc = mf_crc16_update(tx_crc, byte);
        tx_header[tx_pos++] = byte;
        if (tx_pos == 4u) {
            if ((tx_header[0] & MF_MSG_REPLY) == 0u && tx_header[0] != MF_MSG_ERROR) {
                bad_reply("type is neither a reply nor ERROR");
            }
            tx_len = (uint32_t)tx_header[2] | ((uint32_t)tx_header[3] << 8);
            tx_pos = 0;
            tx_state = tx_len ? TX_PAYLOAD : TX_CRC;
        }
        break;
    case TX_PAYLOAD:
        tx_crc = mf_crc16_update(tx_crc, byte);
        if (++tx_pos == tx_len) {
            tx_pos = 0;
            tx_state = TX_CRC;
        }
        break;
    default:
        if (tx_pos++ == 0u) {
            tx_got = byte;
            break;
        }
        tx_got = (uint16_t)(tx_got | ((uint16_t)byte << 8));
        if (tx_got != tx_crc) {
            bad_reply("CRC");
        }
        tx_frames++;
        tx_state = TX_SYNC0;
        break;
    }
}

int mf_uart_getc(uint32_t timeout_ms)
{
    (void)timeout_ms;
    ticks += 1000u;
    return rx_pos < rx_len ? rx_data[rx_pos++] : -1; /* end of input = the line idles */
}

int mf_uart_poll(void)
{
    return mf_uart_getc(0);
}

int host_board_rx_left(void)
{
    return rx_pos < rx_len;
}

void mf_uart_init(void) {}
void mf_uart_flush(void) {}
void mf_board_init(void) {}
void mf_board_idle(void) {}
uint32_t mf_board_clock_hz(void) { return MF_BOARD_CLOCK_HZ; }

void mf_board_exit(int code)
{
    (void)code;
    longjmp(host_exit_jump, 1);
}

void mf_cycles_init(void) {}
int mf_cycles_kind(void) { return MF_CYCLES_SYSTICK_ICOUNT; }
const char *mf_cycles_kind_name(void) { return "systick-icount"; }
uint32_t mf_cycles_now(void) { return (uint32_t)(ticks += 7u); }
uint64_t mf_cycles_now64(void) { return ticks += 7u; }
uint64_t mf_time_ticks64(void) { return ticks; }
