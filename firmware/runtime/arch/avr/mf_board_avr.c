/* The mf_board.h hooks that are the same on every AVR board. The Arduinos run from a 16 MHz
 * crystal the fuses select: nothing to configure, so these weak defaults report the board.json
 * clock; a board whose clock needs setting up defines mf_board_init/mf_board_clock_hz in board.c. */
#include "mf_avr.h"
#include "mf_board.h"
#include "mf_runtime.h"

__attribute__((weak)) void mf_board_init(void)
{
}

__attribute__((weak)) uint32_t mf_board_clock_hz(void)
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
    mf_avr_halt(code); /* simavr ends the run with this code; a real part stops until reset */
#else
    (void)code;
    mf_avr_reset();
#endif
}
