/* mf_cycles for ARMv7-M: DWT CYCCNT when it counts, else SysTick at the CPU clock.
 * SysTick always runs (reload 2^24) as the timebase for timeouts and, in DWT mode, its
 * interrupt also extends CYCCNT to 64 bits (it fires well within 2^32 cycles). */
#include "mf_cycles.h"
#include "mf_cortexm.h"

#define SYST_PERIOD (1u << 24)

static volatile uint32_t systick_wraps;
static int kind = MF_CYCLES_NONE;
static uint32_t dwt_last;
static uint32_t dwt_high;

static uint64_t systick_now64(void)
{
    uint32_t primask = mf_irq_save();
    uint32_t val = MF_SYST_CVR;
    uint32_t wraps = systick_wraps;
    if (MF_SCB_ICSR & MF_ICSR_PENDSTSET) {
        /* Wrapped but not yet counted by the interrupt: the value read may be either side
         * of the wrap, so read again after it. */
        val = MF_SYST_CVR;
        wraps++;
    }
    mf_irq_restore(primask);
    return (uint64_t)wraps * SYST_PERIOD + (SYST_PERIOD - 1u - (val & 0xFFFFFFu));
}

static uint64_t dwt_now64(void)
{
    uint32_t primask = mf_irq_save();
    uint32_t now = MF_DWT_CYCCNT;
    uint64_t result;
    if (now < dwt_last) {
        dwt_high++;
    }
    dwt_last = now;
    result = ((uint64_t)dwt_high << 32) | now;
    mf_irq_restore(primask);
    return result;
}

void SysTick_Handler(void);
void SysTick_Handler(void)
{
    systick_wraps++;
    if (kind == MF_CYCLES_DWT) {
        (void)dwt_now64();
    }
}

static int dwt_works(void)
{
    volatile uint32_t spin;
    uint32_t start;
    MF_DEMCR |= 1u << 24; /* TRCENA */
    if (MF_DWT_CTRL & (1u << 25)) {
        return 0; /* NOCYCCNT: no cycle counter in this core */
    }
    MF_DWT_CYCCNT = 0;
    MF_DWT_CTRL |= 1u;
    start = MF_DWT_CYCCNT;
    for (spin = 0; spin < 64u; spin++) {
    }
    /* QEMU 7.2 does not emulate DWT: CYCCNT stays 0. */
    return MF_DWT_CYCCNT != start;
}

void mf_cycles_init(void)
{
    MF_SYST_RVR = SYST_PERIOD - 1u;
    MF_SYST_CVR = 0;
    MF_SYST_CSR = 0x7u; /* processor clock, interrupt, enable */
    kind = dwt_works() ? MF_CYCLES_DWT : MF_CYCLES_SYSTICK_ICOUNT;
    if (kind == MF_CYCLES_DWT) {
        dwt_last = MF_DWT_CYCCNT;
    }
}

int mf_cycles_kind(void)
{
    return kind;
}

const char *mf_cycles_kind_name(void)
{
    return kind == MF_CYCLES_DWT ? "dwt" : (kind == MF_CYCLES_SYSTICK_ICOUNT ? "systick-icount" : "none");
}

uint64_t mf_cycles_now64(void)
{
    return kind == MF_CYCLES_DWT ? dwt_now64() : systick_now64();
}

uint32_t mf_cycles_now(void)
{
    return kind == MF_CYCLES_DWT ? MF_DWT_CYCCNT : (uint32_t)systick_now64();
}

uint64_t mf_time_ticks64(void)
{
    return systick_now64();
}
