/* Cycle counter: hardware cycles (DWT CYCCNT) where the core has one that runs, else
 * SysTick at the CPU clock extended past 24 bits by its wrap interrupt. Under QEMU the
 * SysTick count follows `-icount shift=N` and measures emulated instructions, not time. */
#ifndef MF_CYCLES_H
#define MF_CYCLES_H

#include <stdint.h>

enum {
    MF_CYCLES_NONE = 0,
    MF_CYCLES_DWT = 1,           /* hardware cycles */
    MF_CYCLES_SYSTICK_ICOUNT = 2, /* SysTick ticks; emulated instructions under QEMU icount */
    MF_CYCLES_AVR_TIMER1 = 3      /* AVR Timer1 at the CPU clock: cycles (simulated under simavr) */
};

/* Picks the counter (detects a working DWT) and starts it; needs interrupts enabled. */
void mf_cycles_init(void);
int mf_cycles_kind(void);
/* "dwt", "systick-icount" or "avr-timer1", as reported in HELLO (a text, mf_link.h). */
const char *mf_cycles_kind_name(void);
uint32_t mf_cycles_now(void);
/* Never wraps in practice (2^64 cycles). */
uint64_t mf_cycles_now64(void);
/* Monotonic CPU-clock ticks that keep counting while the core sleeps: the timebase for
 * timeouts (DWT stops in sleep on some parts). */
uint64_t mf_time_ticks64(void);

#endif
