/* Arm CMSDK APB UART (the MPS2 FPGA images): base, receive IRQ and baud rate from board.json
 * through mf_config.h. QEMU drops received bytes unless BAUDDIV >= 16 (25 MHz / 115200 = 217).
 * Receive is interrupt driven into the common ring; transmit polls TX-full. */
#include "mf_board.h"
#include "mf_cortexm.h"
#include "mf_cycles.h"
#include "mf_uart_cortexm.h"

#define UART_DATA MF_REG32(MF_UART_BASE + 0x00u)
#define UART_STATE MF_REG32(MF_UART_BASE + 0x04u)
#define UART_CTRL MF_REG32(MF_UART_BASE + 0x08u)
#define UART_INTCLEAR MF_REG32(MF_UART_BASE + 0x0Cu)
#define UART_BAUDDIV MF_REG32(MF_UART_BASE + 0x10u)
#define STATE_TX_FULL (1u << 0)
#define STATE_RX_FULL (1u << 1)
#define STATE_RX_OVERRUN (1u << 3)
#define CTRL_TX_EN (1u << 0)
#define CTRL_RX_EN (1u << 1)
#define CTRL_RX_INT_EN (1u << 3)
#define INT_RX (1u << 1)

void mf_uart_irq_handler(void)
{
    /* Clear first, then drain: a byte landing after the last RX_FULL check raises the
     * interrupt again instead of sitting unseen in the data register. */
    UART_INTCLEAR = INT_RX;
    UART_STATE = STATE_RX_OVERRUN; /* write-one-to-clear */
    while (UART_STATE & STATE_RX_FULL) {
        mf_ring_push(&mf_uart_rx, (uint8_t)UART_DATA);
    }
}

void mf_uart_init(void)
{
    uint32_t div = mf_board_clock_hz() / MF_UART_BAUD;
    UART_BAUDDIV = div < 16u ? 16u : div;
    UART_CTRL = CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN;
    mf_nvic_enable(MF_UART_IRQ);
}

void mf_uart_putc(uint8_t byte)
{
    while (UART_STATE & STATE_TX_FULL) {
    }
    UART_DATA = byte;
}

void mf_uart_flush(void)
{
    /* The CMSDK UART has no transmit-complete flag: wait for the holding register, then
     * one character time (10 bits) for the shift register. */
    uint64_t end;
    while (UART_STATE & STATE_TX_FULL) {
    }
    end = mf_time_ticks64() + (uint64_t)mf_board_clock_hz() * 10u / MF_UART_BAUD + 1u;
    while (mf_time_ticks64() < end) {
    }
}
