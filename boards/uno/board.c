/* Arduino Uno: a 16 MHz crystal (fuses select it), nothing to configure. */
#include "mf_avr.h"
#include "mf_board.h"
#include "mf_runtime.h"

void mf_board_init(void)
{
}

uint32_t mf_board_clock_hz(void)
{
    return MF_BOARD_CLOCK_HZ;
}

void mf_board_idle(void)
{
    cli();
    mf_avr_idle();
}

void mf_board_exit(int code)
{
#if MF_EXIT_SEMIHOSTING
    mf_avr_halt(code); /* simavr ends the run with this code; a real Uno stops until reset */
#else
    (void)code;
    mf_avr_reset();
#endif
}
