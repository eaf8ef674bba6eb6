#include "mf_cortexm.h"

void mf_semihost_exit(int code)
{
    /* SYS_EXIT_EXTENDED (0x20) takes {ADP_Stopped_ApplicationExit, code} and, unlike
     * SYS_EXIT on 32-bit Arm, passes any exit code through. */
    volatile uint32_t block[2];
    register uint32_t r0 __asm("r0") = 0x20u;
    register volatile uint32_t *r1 __asm("r1") = block;
    block[0] = 0x20026u;
    block[1] = (uint32_t)code;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

void mf_system_reset(void)
{
    __asm volatile("dsb" : : : "memory");
    MF_SCB_AIRCR = (0x5FAu << 16) | (1u << 2); /* VECTKEY | SYSRESETREQ */
    __asm volatile("dsb" : : : "memory");
    for (;;) {
    }
}
