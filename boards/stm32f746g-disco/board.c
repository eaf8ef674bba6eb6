/* STM32F746G-DISCO clocks: the board's 25 MHz HSE crystal -> PLL -> 216 MHz SYSCLK (the part's
 * rated speed, with the regulator's over-drive), AHB 216, APB1 54, APB2 108 (their maxima); the
 * Cortex-M7's L1 instruction and data caches on (the weights are read from flash over AXIM; the
 * arena sits in the uncached, zero-wait DTCM at 0x20000000 first). The F7's RCC, PWR and flash
 * registers are the F4's (firmware/drivers/stm32f4-rcc), its USART is the L4's (stm32-usart-v2).
 * Every wait is bounded: a board whose crystal does not start or whose PLL does not lock stays on
 * the 16 MHz HSI and reports that clock. */
#include "mf_board.h"
#include "mf_cortexm.h"
#include "stm32f4_rcc.h"
#include "stm32_usart_v2.h"

#define HSI_HZ 16000000u

#define SCB_CCR MF_REG32(0xE000ED14u)
#define SCB_CCSIDR MF_REG32(0xE000ED80u)
#define SCB_CSSELR MF_REG32(0xE000ED84u)
#define SCB_ICIALLU MF_REG32(0xE000EF50u)
#define SCB_DCISW MF_REG32(0xE000EF60u)
#define SCB_CCR_DC (1u << 16)
#define SCB_CCR_IC (1u << 17)

static uint32_t sysclk_hz = HSI_HZ;
static uint32_t pclk2_hz = HSI_HZ;

/* Invalidate, then enable, both L1 caches (the sequence of CMSIS's SCB_EnableICache and
 * SCB_EnableDCache: the data cache invalidated by set and way). */
static void enable_caches(void)
{
    uint32_t ccsidr, sets, ways;
    mf_barrier();
    SCB_ICIALLU = 0u;
    mf_barrier();
    SCB_CCR |= SCB_CCR_IC;
    mf_barrier();

    SCB_CSSELR = 0u; /* level 1 data cache */
    mf_barrier();
    ccsidr = SCB_CCSIDR;
    sets = (ccsidr >> 13) & 0x7FFFu;
    do {
        ways = (ccsidr >> 3) & 0x3FFu;
        do {
            SCB_DCISW = ((sets << 5) & 0x3FE0u) | ((ways << 30) & 0xC0000000u);
        } while (ways-- != 0u);
    } while (sets-- != 0u);
    mf_barrier();
    SCB_CCR |= SCB_CCR_DC;
    mf_barrier();
}

static int start_pll_216mhz(void)
{
    RCC_CR |= RCC_CR_HSEON;
    if (!mf_wait_bits(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY)) {
        return 0;
    }
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    PWR_CR |= 3u << 14; /* VOS: scale 1 */
    /* M=25 (1 MHz), N=432, P=2 (216 MHz), Q=9 (48 MHz), source HSE */
    if (!stm32_pll_start(25u | (432u << 6) | (0u << 16) | (1u << 22) | (9u << 24)) || !stm32_overdrive_on()) {
        return 0;
    }
    /* 7 wait states at 216 MHz and 3.3 V, prefetch and the ART accelerator on; AHB /1, APB1 /4,
     * APB2 /2 */
    return stm32_sysclk_from_pll(7u | (1u << 8) | (1u << 9), (5u << 10) | (4u << 13));
}

void mf_board_init(void)
{
    enable_caches();
    if (start_pll_216mhz()) {
        sysclk_hz = 216000000u;
        pclk2_hz = 108000000u;
    }
}

uint32_t mf_board_clock_hz(void)
{
    return sysclk_hz;
}

/* The link UART, USART1 on APB2 (its kernel clock by default): PA9 TX / PB7 RX, AF7, the
 * ST-LINK's virtual COM port. */
uint32_t stm32_usart_setup(void)
{
    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN | RCC_AHB1ENR_GPIOBEN;
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    GPIOA_MODER = (GPIOA_MODER & ~(3u << 18)) | (2u << 18);
    GPIOA_AFRH = (GPIOA_AFRH & ~(0xFu << 4)) | (7u << 4);
    GPIOB_MODER = (GPIOB_MODER & ~(3u << 14)) | (2u << 14);
    GPIOB_AFRL = (GPIOB_AFRL & ~(0xFu << 28)) | (7u << 28);
    return pclk2_hz;
}
