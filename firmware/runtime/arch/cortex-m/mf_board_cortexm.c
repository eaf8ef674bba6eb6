/* The mf_board.h hooks that are the same on every Cortex-M board. A board whose clock needs
 * setting up defines mf_board_init and mf_board_clock_hz in its board.c; a board with one
 * fixed clock (the MPS2 FPGA images) needs no board.c: these weak defaults report the
 * board.json clock. */
#include "mf_board.h"
#include "mf_cortexm.h"
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
    mf_wfi();
}

void mf_board_exit(int code)
{
#if MF_EXIT_SEMIHOSTING
    mf_semihost_exit(code);
#else
    (void)code;
#endif
    mf_system_reset();
}
