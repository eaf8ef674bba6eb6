/* Reading the link UART on Cortex-M: bytes come from the driver's receive interrupt through
 * a ring; a timed read sleeps between bytes. */
#include "mf_board.h"
#include "mf_cortexm.h"
#include "mf_cycles.h"
#include "mf_uart_cortexm.h"

mf_ring mf_uart_rx;

int mf_uart_poll(void)
{
    return mf_ring_pop(&mf_uart_rx);
}

int mf_uart_getc(uint32_t timeout_ms)
{
    uint64_t deadline = mf_time_ticks64() + (uint64_t)timeout_ms * (mf_board_clock_hz() / 1000u);
    for (;;) {
        uint32_t primask = mf_irq_save();
        int c = mf_ring_pop(&mf_uart_rx);
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
