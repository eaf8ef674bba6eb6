/* Netduino Plus 2 clocks: 25 MHz HSE -> PLL -> 168 MHz SYSCLK, AHB 168, APB1 42, APB2 84.
 * QEMU 7.2 has no RCC model for the F405 (RCC reads 0) and runs its clock tree at a fixed
 * 168 MHz, so the PLL set-up is skipped there. Every wait is bounded: a board whose
 * crystal does not start stays on the 16 MHz HSI and reports that clock. Idle and exit are
 * common Cortex-M code (firmware/runtime/arch/cortex-m/mf_board_cortexm.c). */
#include "mf_board.h"
#include "mf_cortexm.h"
#include "stm32f4_rcc.h"
#include "stm32_usart.h"

#define HSI_HZ 16000000u

static uint32_t sysclk_hz = HSI_HZ;
static uint32_t pclk2_hz = HSI_HZ;

static int start_pll_168mhz(void)
{
    RCC_CR |= RCC_CR_HSEON;
    if (!mf_wait_bits(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY)) {
        return 0;
    }
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    PWR_CR |= 1u << 14; /* VOS: scale 1 for 168 MHz */
    /* M=25 (1 MHz), N=336, P=2 (168 MHz), Q=7 (48 MHz), source HSE; 5 wait states at 3.3 V,
     * prefetch and caches on; AHB /1, APB1 /4, APB2 /2 */
    return stm32_switch_to_pll(25u | (336u << 6) | (0u << 16) | (1u << 22) | (7u << 24),
                               5u | (1u << 8) | (1u << 9) | (1u << 10), (5u << 10) | (4u << 13));
}

void mf_board_init(void)
{
    if (stm32f4_rcc_emulated()) {
        sysclk_hz = MF_EMULATOR_CLOCK_HZ; /* QEMU's fixed clock tree */
        pclk2_hz = MF_EMULATOR_CLOCK_HZ / 2u;
    } else if (start_pll_168mhz()) {
        sysclk_hz = 168000000u;
        pclk2_hz = 84000000u;
    }
}

uint32_t mf_board_clock_hz(void)
{
    return sysclk_hz;
}

/* The link UART, USART1 on APB2: PA9 TX / PA10 RX, AF7 (the pins the ST system bootloader uses too). */
uint32_t stm32_usart_setup(void)
{
    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN;
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    GPIOA_MODER = (GPIOA_MODER & ~((3u << 18) | (3u << 20))) | (2u << 18) | (2u << 20);
    GPIOA_AFRH = (GPIOA_AFRH & ~((0xFu << 4) | (0xFu << 8))) | (7u << 4) | (7u << 8);
    return pclk2_hz;
}
