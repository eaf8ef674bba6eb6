/* mf_cycles for the AVR: Timer1 counts CPU clock cycles (prescaler 1), extended past 16 bits
 * by its overflow interrupt. Counts are exact: the overflow interrupt's own cycles (entry,
 * handler, reti: measured once at start-up) are subtracted, and reading the counter takes the
 * same cycles whatever the timer's phase, so a computation costs the same count however it
 * lines up with the timer. Under simavr these are simulated cycles of the part.
 *
 *     counter = base + TCNT1 (+ 65536 while an overflow is pending)
 *     each overflow interrupt: base += 65536 - isr_cycles
 *
 * base is 48 bits (2^48 cycles: 200 days at 16 MHz). */
#include <stdint.h>

#include "mf_avr.h"
#include "mf_cycles.h"
#include "mf_link.h"

/* Referenced by name from the assembly below. */
volatile uint8_t mf_t1_base[6];
volatile uint16_t mf_t1_step; /* 65536 - isr_cycles; 0 while calibrating */
static uint8_t isr_cycles;

/* Fixed-length handler (no branches): base += step, 48 bits. */
ISR(TIMER1_OVF_vect, ISR_NAKED)
{
    __asm volatile(
        "push r24\n\t"
        "in r24, __SREG__\n\t"
        "push r24\n\t"
        "push r25\n\t"
        "push r26\n\t"
        "push r27\n\t"
        "lds r24, mf_t1_step\n\t"
        "lds r25, mf_t1_step+1\n\t"
        "ldi r26, 0\n\t"
        "lds r27, mf_t1_base\n\t"
        "add r27, r24\n\t"
        "sts mf_t1_base, r27\n\t"
        "lds r27, mf_t1_base+1\n\t"
        "adc r27, r25\n\t"
        "sts mf_t1_base+1, r27\n\t"
        "lds r27, mf_t1_base+2\n\t"
        "adc r27, r26\n\t"
        "sts mf_t1_base+2, r27\n\t"
        "lds r27, mf_t1_base+3\n\t"
        "adc r27, r26\n\t"
        "sts mf_t1_base+3, r27\n\t"
        "lds r27, mf_t1_base+4\n\t"
        "adc r27, r26\n\t"
        "sts mf_t1_base+4, r27\n\t"
        "lds r27, mf_t1_base+5\n\t"
        "adc r27, r26\n\t"
        "sts mf_t1_base+5, r27\n\t"
        "pop r27\n\t"
        "pop r26\n\t"
        "pop r25\n\t"
        "pop r24\n\t"
        "out __SREG__, r24\n\t"
        "pop r24\n\t"
        "reti\n\t");
}

/* Branch-free read (same cycles in every case), returned in r18..r25 as the ABI wants:
 * with interrupts off, TCNT1 (low byte first: it latches the high byte), base, and TOV1;
 * an overflow is pending (not yet in base) when TOV1 is set and TCNT1 has not passed 0x8000
 * (TCNT1 read just before the wrap stays above). */
uint64_t mf_cycles_now64(void) __attribute__((naked, noinline));
uint64_t mf_cycles_now64(void)
{
    __asm volatile(
        "in r0, __SREG__\n\t"
        "cli\n\t"
        "lds r26, %[tcntl]\n\t"
        "lds r27, %[tcnth]\n\t"
        "lds r18, mf_t1_base\n\t"
        "lds r19, mf_t1_base+1\n\t"
        "lds r20, mf_t1_base+2\n\t"
        "lds r21, mf_t1_base+3\n\t"
        "lds r22, mf_t1_base+4\n\t"
        "lds r23, mf_t1_base+5\n\t"
        "in r24, %[tifr]\n\t"
        "out __SREG__, r0\n\t"
        "andi r24, 1\n\t"   /* TOV1 (bit 0) */
        "mov r25, r27\n\t"
        "lsl r25\n\t"       /* C = TCNT1 bit 15 */
        "sbc r25, r25\n\t"  /* 0xFF if bit 15 */
        "com r25\n\t"
        "and r24, r25\n\t"  /* r24 = pending (0/1) */
        "ldi r25, 0\n\t"
        "add r18, r26\n\t"  /* base + TCNT1 */
        "adc r19, r27\n\t"
        "adc r20, r25\n\t"
        "adc r21, r25\n\t"
        "adc r22, r25\n\t"
        "adc r23, r25\n\t"
        "add r20, r24\n\t"  /* + 65536 * pending */
        "adc r21, r25\n\t"
        "adc r22, r25\n\t"
        "adc r23, r25\n\t"
        "ldi r24, 0\n\t"
        "ret\n\t"
        :
        : [tcntl] "n"(_SFR_MEM_ADDR(TCNT1L)), [tcnth] "n"(_SFR_MEM_ADDR(TCNT1H)),
          [tifr] "I"(_SFR_IO_ADDR(TIFR1)));
}

/* Timer ticks across a fixed delay started at TCNT1 = start (interrupts on). */
static uint16_t ticks_across(uint16_t start)
{
    uint16_t end;
    cli();
    TCNT1 = start;
    TIFR1 = (uint8_t)(1u << TOV1);
    sei();
    __builtin_avr_delay_cycles(200);
    cli();
    end = TCNT1;
    sei();
    return (uint16_t)(end - start);
}

void mf_cycles_init(void)
{
    uint8_t i;
    TCCR1A = 0;
    TCCR1B = (uint8_t)(1u << CS10); /* normal mode, clk/1 */
    TIMSK1 = (uint8_t)(1u << TOIE1);
    sei();
    /* The overflow interrupt's cost: the same delay with and without an overflow in it. */
    mf_t1_step = 0;
    isr_cycles = (uint8_t)(ticks_across(0xFFFFu - 100u) - ticks_across(0));
    cli();
    for (i = 0; i < sizeof mf_t1_base; i++) {
        mf_t1_base[i] = 0;
    }
    mf_t1_step = (uint16_t)(0u - (uint16_t)isr_cycles); /* 65536 - isr_cycles */
    sei();
}

int mf_cycles_kind(void)
{
    return MF_CYCLES_AVR_TIMER1;
}

const char *mf_cycles_kind_name(void)
{
    return MF_TEXT("avr-timer1");
}

uint32_t mf_cycles_now(void)
{
    return (uint32_t)mf_cycles_now64();
}

uint64_t mf_time_ticks64(void)
{
    return mf_cycles_now64();
}
