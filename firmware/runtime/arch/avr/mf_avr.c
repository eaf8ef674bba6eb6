/* End of a run (halt for the simulator, watchdog reset on a real part) and the report
 * of an interrupt that has no handler. */
#include <avr/wdt.h>

#include "mf_avr.h"
#include "mf_board.h"
#include "mf_link.h"
#include "mf_runtime.h"

void mf_avr_halt(int code)
{
    /* `cli; sleep` can never wake: simavr stops ("sleeping with interrupts off") and
     * mcuforge's simavr runner returns r24, the low byte of the code, as its exit status. */
    __asm volatile("mov r24, %0\n\tcli\n\tsleep" : : "r"((uint8_t)code) : "r24", "memory");
    for (;;) {
    }
}

void mf_avr_reset(void)
{
    cli();
    wdt_enable(WDTO_15MS);
    for (;;) {
    }
}

/* An interrupt without a handler: report it and stop instead of jumping to address 0. */
ISR(BADISR_vect)
{
    mf_link_send_error(mf_runtime_current_seq(), MF_ERR_FAULT, mf_runtime_current_type(),
                       MF_TEXT("unexpected interrupt"));
    mf_uart_flush();
    mf_board_exit(MF_EXIT_FAULT);
}

/* After a watchdog reset the watchdog stays on: turn it off before main() can be reset again. */
void mf_avr_wdt_off(void) __attribute__((naked, used, section(".init3")));
void mf_avr_wdt_off(void)
{
    MCUSR = 0;
    wdt_disable();
}
