/* CMSDK APB UART0. QEMU drops received bytes unless BAUDDIV >= 16 (25 MHz / 115200 = 217).
 * Receive is interrupt driven into a ring; transmit polls TX-full. */
#include "mf_board.h"
#include "mf_cortexm.h"
#include "mf_cycles.h"
#include "mf_ring.h"

#define UART0_BASE 0x40004000u
#define UART_DATA MF_REG32(UART0_BASE + 0x00u)
#define UART_STATE MF_REG32(UART0_BASE + 0x04u)
#define UART_CTRL MF_REG32(UART0_BASE + 0x08u)
#define UART_INTCLEAR MF_REG32(UART0_BASE + 0x0Cu)
#define UART_BAUDDIV MF_REG32(UART0_BASE + 0x10u)
#define STATE_TX_FULL (1u << 0)
#define STATE_RX_FULL (1u << 1)
#define STATE_RX_OVERRUN (1u << 3)
#define CTRL_TX_EN (1u << 0)
#define CTRL_RX_EN (1u << 1)
#define CTRL_RX_INT_EN (1u << 3)
#define INT_RX (1u << 1)
#define UART0_RX_IRQN 0u
#define BAUD 115200u

static mf_ring rx;

void UART0_RX_IRQHandler(void);
void UART0_RX_IRQHandler(void)
{
    /* Clear first, then drain: a byte landing after the last RX_FULL check raises the
     * interrupt again instead of sitting unseen in the data register. */
    UART_INTCLEAR = INT_RX;
    UART_STATE = STATE_RX_OVERRUN; /* write-one-to-clear */
    while (UART_STATE & STATE_RX_FULL) {
        mf_ring_push(&rx, (uint8_t)UART_DATA);
    }
}

void mf_uart_init(void)
{
    uint32_t div = mf_board_clock_hz() / BAUD;
    UART_BAUDDIV = div < 16u ? 16u : div;
    UART_CTRL = CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN;
    mf_nvic_enable(UART0_RX_IRQN);
}

void mf_uart_putc(uint8_t byte)
{
    while (UART_STATE & STATE_TX_FULL) {
    }
    UART_DATA = byte;
}

int mf_uart_poll(void)
{
    return mf_ring_pop(&rx);
}

int mf_uart_getc(uint32_t timeout_ms)
{
    uint64_t deadline = mf_time_ticks64() + (uint64_t)timeout_ms * (mf_board_clock_hz() / 1000u);
    for (;;) {
        uint32_t primask = mf_irq_save();
        int c = mf_ring_pop(&rx);
        if (c < 0) {
            mf_wfi(); /* wakes on the RX interrupt or the SysTick wrap */
        }
        mf_irq_restore(primask);
        if (c >= 0) {
            return c;
        }
        if (mf_time_ticks64() >= deadline) {
            return -1;
        }
    }
}

void mf_uart_flush(void)
{
    /* The CMSDK UART has no transmit-complete flag: wait for the holding register, then
     * one character time (10 bits) for the shift register. */
    uint64_t end;
    while (UART_STATE & STATE_TX_FULL) {
    }
    end = mf_time_ticks64() + (uint64_t)mf_board_clock_hz() * 10u / BAUD + 1u;
    while (mf_time_ticks64() < end) {
    }
}
