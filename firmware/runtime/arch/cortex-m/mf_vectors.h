/* Pieces of the vector table that the project generator writes from board.json
 * (templates/arch/cortex-m/mf_vectors.c.j2). */
#ifndef MF_VECTORS_H
#define MF_VECTORS_H

#include <stdint.h>

typedef void (*mf_vector)(void);

extern uint32_t _estack;
void Reset_Handler(void);
void NMI_Handler(void);
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);

/* The 16 ARMv7-M system entries (initial SP, reset, faults, SysTick). */
#define MF_CORE_VECTORS                                                                    \
    (mf_vector)(uintptr_t)&_estack, Reset_Handler, NMI_Handler, HardFault_Handler,         \
        MemManage_Handler, BusFault_Handler, UsageFault_Handler, 0, 0, 0, 0,               \
        Default_Handler /* SVCall */, Default_Handler /* DebugMon */, 0,                   \
        Default_Handler /* PendSV */, SysTick_Handler,

#endif
