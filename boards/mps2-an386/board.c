/* MPS2 AN386: one fixed 25 MHz clock (FPGA), nothing to configure. */
#include "mf_board.h"
#include "mf_cortexm.h"
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
