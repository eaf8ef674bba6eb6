/* mf_cycles for ARMv7-M: DWT CYCCNT when it counts, else SysTick at the CPU clock.
 * SysTick always runs (reload 2^24) as the timebase for timeouts and, in DWT mode, its
 * interrupt also extends CYCCNT to 64 bits (it fires well within 2^32 cycles).
 *
 * In SysTick mode (QEMU with a fixed -icount, where ticks count emulated instructions) the
 * wrap interrupt's own instructions would land in whichever measured region it interrupts,
 * and where it lands follows host timing (idle virtual time tracks real time). So measured
 * ticks exclude it: its cost is calibrated once at start-up, by pending the same interrupt
 * by software, and subtracted once per wrap handled. Timeouts use the raw ticks. */
#include "mf_cycles.h"
#include "mf_cortexm.h"

#define SYST_PERIOD (1u << 24)

static volatile uint32_t systick_wraps; /* wrap interrupts handled */
static uint32_t handler_ticks;           /* SysTick ticks one wrap interrupt costs */
static int kind = MF_CYCLES_NONE;
static uint32_t dwt_last;
static uint32_t dwt_high;

/* Raw ticks since start; *handled gets the wrap interrupts run so far (a pending one has
 * wrapped the counter but has not cost anything yet). */
static uint64_t systick_read(uint32_t *handled)
{
    uint32_t primask = mf_irq_save();
    uint32_t val = MF_SYST_CVR;
    uint32_t wraps = systick_wraps;
    *handled = wraps;
    if (MF_SCB_ICSR & MF_ICSR_PENDSTSET) {
        /* Wrapped but not yet counted by the interrupt: the value read may be either side
         * of the wrap, so read again after it. */
        val = MF_SYST_CVR;
        wraps++;
    }
    mf_irq_restore(primask);
    return (uint64_t)wraps * SYST_PERIOD + (SYST_PERIOD - 1u - (val & 0xFFFFFFu));
}

static uint64_t systick_now64(void)
{
    uint32_t handled;
    return systick_read(&handled);
}

/* Ticks of the code that ran, without the wrap interrupts' own. */
static uint64_t systick_measured64(void)
{
    uint32_t handled;
    uint64_t raw = systick_read(&handled);
    return raw - (uint64_t)handled * handler_ticks;
}

/* Ticks one wrap interrupt costs: a window that pends it by software minus the same window
 * with a store that pends nothing. Retried if a real wrap falls inside. */
static uint32_t calibrate_handler_ticks(void)
{
    int attempt;
    for (attempt = 0; attempt < 8; attempt++) {
        uint32_t before = systick_wraps, a, b, c, d, fired;
        a = MF_SYST_CVR;
        MF_SCB_ICSR = MF_ICSR_PENDSTSET;
        mf_barrier();
        b = MF_SYST_CVR;
        c = MF_SYST_CVR;
        MF_SCB_ICSR = MF_ICSR_PENDSTCLR;
        mf_barrier();
        d = MF_SYST_CVR;
        fired = systick_wraps - before;
        systick_wraps = before; /* the software-pended interrupt was not a wrap */
        /* SysTick counts down; a real wrap reloads it (b > a or d > c) and is counted too */
        if (fired == 1u && b <= a && d <= c && (a - b) >= (c - d)) {
            return (a - b) - (c - d);
        }
        if (fired > 1u) {
            systick_wraps = before + fired - 1u; /* keep the real wrap */
        }
    }
    return 0;
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
    } else {
        handler_ticks = calibrate_handler_ticks();
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
    return kind == MF_CYCLES_DWT ? dwt_now64() : systick_measured64();
}

uint32_t mf_cycles_now(void)
{
    return kind == MF_CYCLES_DWT ? MF_DWT_CYCCNT : (uint32_t)systick_measured64();
}

uint64_t mf_time_ticks64(void)
{
    return systick_now64();
}
