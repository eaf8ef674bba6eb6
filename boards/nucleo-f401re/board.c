/* NUCLEO-F401RE clocks: 16 MHz HSI -> PLL -> 84 MHz SYSCLK (the part's rated speed), AHB 84,
 * APB1 42 (its maximum), APB2 84. The HSI needs no crystal or solder bridge (the ST-LINK's
 * 8 MHz MCO reaches HSE only on some board revisions). Every wait is bounded: if the PLL does
 * not lock the part stays on the HSI and reports that clock. QEMU's STM32F405 (netduinoplus2),
 * which runs this firmware as a stand-in, has no RCC model: there the clock tree is QEMU's. */
#include "mf_board.h"
#include "mf_cortexm.h"
#include "stm32f4_rcc.h"
#include "stm32_usart.h"

#define HSI_HZ 16000000u

static uint32_t sysclk_hz = HSI_HZ;
static uint32_t pclk1_hz = HSI_HZ;

static int start_pll_84mhz(void)
{
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    PWR_CR = (PWR_CR & ~(3u << 14)) | (2u << 14); /* VOS: scale 2, up to 84 MHz */
    /* M=16 (1 MHz), N=336, P=4 (84 MHz), Q=7 (48 MHz), source HSI; 2 wait states at 84 MHz and
     * 3.3 V, prefetch and caches on; AHB /1, APB1 /2, APB2 /1 */
    return stm32_switch_to_pll(16u | (336u << 6) | (1u << 16) | (0u << 22) | (7u << 24),
                               2u | (1u << 8) | (1u << 9) | (1u << 10), (4u << 10) | (0u << 13));
}

void mf_board_init(void)
{
    if (stm32f4_rcc_emulated()) {
        sysclk_hz = MF_EMULATOR_CLOCK_HZ;
        pclk1_hz = MF_EMULATOR_CLOCK_HZ / 2u;
    } else if (start_pll_84mhz()) {
        sysclk_hz = 84000000u;
        pclk1_hz = 42000000u;
    }
}

uint32_t mf_board_clock_hz(void)
{
    return sysclk_hz;
}

/* The link UART, USART2 on APB1: PA2 TX / PA3 RX, AF7, the ST-LINK's virtual COM port. */
uint32_t stm32_usart_setup(void)
{
    stm32f4_usart2_on_pa2_pa3();
    return pclk1_hz;
}
