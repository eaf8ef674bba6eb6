/* AVR (8-bit, avr-libc) helpers shared by every AVR board. */
#ifndef MF_AVR_H
#define MF_AVR_H

#include <stdint.h>

#include <avr/interrupt.h>
#include <avr/io.h>

/* Interrupt mask save/restore (SREG holds the global enable bit). */
static inline uint8_t mf_irq_save(void)
{
    uint8_t sreg = SREG;
    cli();
    return sreg;
}

static inline void mf_irq_restore(uint8_t sreg)
{
    SREG = sreg;
}

/* Sleep (idle mode) until the next interrupt. Call with interrupts disabled after checking
 * for work: `sei` takes effect after the next instruction, so `sei; sleep` cannot miss an
 * interrupt that arrives in between. */
static inline void mf_avr_idle(void)
{
    SMCR = (uint8_t)(1u << SE); /* idle mode, sleep enabled */
    __asm volatile("sei\n\tsleep" : : : "memory");
    SMCR = 0;
}

/* Halt with interrupts off; simavr ends the run there with r24 as the exit code. */
void mf_avr_halt(int code) __attribute__((noreturn));
/* Reset through the watchdog (15 ms). */
void mf_avr_reset(void) __attribute__((noreturn));

#endif
