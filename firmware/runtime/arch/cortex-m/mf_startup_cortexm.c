/* Reset and fault handling common to Cortex-M boards; the vector table (mf_vectors.c) and
 * the linker script that defines these symbols are generated from board.json. */
#include <stdint.h>

#include "mf_cortexm.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss;
extern int main(void);
void mf_fault_report(uint32_t kind, const uint32_t *frame, uint32_t exc_return);

void Reset_Handler(void);
void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    uint32_t *dst = &_sdata;
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
#if defined(__ARM_FP)
    /* CP10/CP11 full access; without it the first float instruction is a NOCP UsageFault. */
    MF_SCB_CPACR |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" : : : "memory");
#endif
    /* Separate MemManage/BusFault/UsageFault handlers so the report names the real fault. */
    MF_SCB_SHCSR |= (1u << 16) | (1u << 17) | (1u << 18);
    (void)main();
    for (;;) {
    }
}

/* Trampolines: pass the stacked exception frame (MSP or PSP per EXC_RETURN bit 2). */
#define MF_FAULT_TRAMPOLINE(name, kind)                                                    \
    __attribute__((naked)) void name(void)                                                 \
    {                                                                                      \
        __asm volatile("tst lr, #4\n\t"                                                    \
                       "ite eq\n\t"                                                        \
                       "mrseq r1, msp\n\t"                                                 \
                       "mrsne r1, psp\n\t"                                                 \
                       "mov r2, lr\n\t"                                                    \
                       "movs r0, #" #kind "\n\t"                                           \
                       "b mf_fault_entry\n\t");                                            \
    }

void mf_fault_entry(uint32_t kind, const uint32_t *frame, uint32_t exc_return);
void mf_fault_entry(uint32_t kind, const uint32_t *frame, uint32_t exc_return)
{
    mf_fault_report(kind, frame, exc_return);
}

void NMI_Handler(void);
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);
void Default_Handler(void);

MF_FAULT_TRAMPOLINE(NMI_Handler, 2)
MF_FAULT_TRAMPOLINE(HardFault_Handler, 3)
MF_FAULT_TRAMPOLINE(MemManage_Handler, 4)
MF_FAULT_TRAMPOLINE(BusFault_Handler, 5)
MF_FAULT_TRAMPOLINE(UsageFault_Handler, 6)
/* Any interrupt without a handler: reported as kind 0 (unexpected interrupt). */
MF_FAULT_TRAMPOLINE(Default_Handler, 0)
