/* NUCLEO-F446RE clocks: 16 MHz HSI -> PLL -> 180 MHz SYSCLK (the part's rated speed, with the
 * regulator's over-drive), AHB 180, APB1 45, APB2 90 (their maxima). The HSI needs no crystal
 * or solder bridge, as on the F401 Nucleo. Every wait is bounded: if the PLL does not lock or
 * over-drive does not come the part stays on the HSI and reports that clock. QEMU's STM32F405
 * (netduinoplus2), which runs this firmware as a stand-in, has no RCC model: there the clock
 * tree is QEMU's fixed one. */
#include "mf_board.h"
#include "mf_cortexm.h"
#include "stm32f4_rcc.h"
#include "stm32_usart.h"

#define HSI_HZ 16000000u

static uint32_t sysclk_hz = HSI_HZ;
static uint32_t pclk1_hz = HSI_HZ;

static int start_pll_180mhz(void)
{
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    PWR_CR |= 3u << 14; /* VOS: scale 1 */
    /* M=16 (1 MHz), N=360, P=2 (180 MHz), Q=8, R=2, source HSI */
    if (!stm32_pll_start(16u | (360u << 6) | (0u << 16) | (0u << 22) | (8u << 24) | (2u << 28))
            || !stm32_overdrive_on()) {
        return 0;
    }
    /* 5 wait states at 180 MHz and 3.3 V, prefetch and caches on; AHB /1, APB1 /4, APB2 /2 */
    return stm32_sysclk_from_pll(5u | (1u << 8) | (1u << 9) | (1u << 10), (5u << 10) | (4u << 13));
}

void mf_board_init(void)
{
    if (stm32f4_rcc_emulated()) {
        sysclk_hz = MF_EMULATOR_CLOCK_HZ;
        pclk1_hz = MF_EMULATOR_CLOCK_HZ / 4u;
    } else if (start_pll_180mhz()) {
        sysclk_hz = 180000000u;
        pclk1_hz = 45000000u;
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
