/* Cortex-M (ARMv7-M) system registers and helpers shared by every Cortex-M board. */
#ifndef MF_CORTEXM_H
#define MF_CORTEXM_H

#include <stdint.h>

#define MF_REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#define MF_SCB_ICSR MF_REG32(0xE000ED04u)
#define MF_SCB_AIRCR MF_REG32(0xE000ED0Cu)
#define MF_SCB_SHCSR MF_REG32(0xE000ED24u)
#define MF_SCB_CFSR MF_REG32(0xE000ED28u)
#define MF_SCB_HFSR MF_REG32(0xE000ED2Cu)
#define MF_SCB_MMFAR MF_REG32(0xE000ED34u)
#define MF_SCB_BFAR MF_REG32(0xE000ED38u)
#define MF_SCB_CPACR MF_REG32(0xE000ED88u)
#define MF_SYST_CSR MF_REG32(0xE000E010u)
#define MF_SYST_RVR MF_REG32(0xE000E014u)
#define MF_SYST_CVR MF_REG32(0xE000E018u)
#define MF_DEMCR MF_REG32(0xE000EDFCu)
#define MF_DWT_CTRL MF_REG32(0xE0001000u)
#define MF_DWT_CYCCNT MF_REG32(0xE0001004u)
#define MF_NVIC_ISER(n) MF_REG32(0xE000E100u + 4u * (n))

#define MF_ICSR_PENDSTSET (1u << 26)
#define MF_ICSR_PENDSTCLR (1u << 25)

static inline uint32_t mf_irq_save(void)
{
    uint32_t primask;
    __asm volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask) : : "memory");
    return primask;
}

static inline void mf_irq_restore(uint32_t primask)
{
    __asm volatile("msr primask, %0" : : "r"(primask) : "memory");
}

static inline void mf_irq_enable_all(void)
{
    __asm volatile("cpsie i" : : : "memory");
}

/* Wakes on any pending interrupt, even with PRIMASK set: call it inside mf_irq_save()
 * after checking for work, so a byte arriving just before cannot be slept through. */
static inline void mf_wfi(void)
{
    __asm volatile("dsb\n\twfi" : : : "memory");
}

/* Completes memory accesses and refetches: an interrupt pended by the store before it is
 * taken before the next instruction. */
static inline void mf_barrier(void)
{
    __asm volatile("dsb\n\tisb" : : : "memory");
}

static inline void mf_nvic_enable(uint32_t irq)
{
    MF_NVIC_ISER(irq >> 5) = 1u << (irq & 31u);
}

/* Wait until (*reg & mask) == value, a bounded number of reads: 1 if it came, 0 if not (a
 * crystal that does not start, a PLL that does not lock: board clock set-up never hangs). */
#define MF_READY_SPINS 500000u
static inline int mf_wait_bits(volatile uint32_t *reg, uint32_t mask, uint32_t value)
{
    uint32_t i;
    for (i = 0; i < MF_READY_SPINS; i++) {
        if ((*reg & mask) == value) {
            return 1;
        }
    }
    return 0;
}

/* Semihosting SYS_EXIT_EXTENDED; only returns if no debugger/emulator handles it. */
void mf_semihost_exit(int code);
/* Request a system reset through AIRCR. */
void mf_system_reset(void) __attribute__((noreturn));

#endif
