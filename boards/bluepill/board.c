/* Blue Pill (STM32F103C8) clocks: the board's 8 MHz HSE crystal -> PLL x9 -> 72 MHz SYSCLK (the
 * part's rated speed), AHB 72, APB1 36 (its maximum), APB2 72. The F1's RCC, flash and GPIO
 * registers (RM0008) are not the F4's; its USART is (firmware/drivers/stm32-usart). Every wait is
 * bounded: a board whose crystal does not start stays on the 8 MHz HSI and reports that clock.
 * QEMU's STM32F100 (stm32vldiscovery) has no RCC model (reads 0; a real F1's RCC_CR never is):
 * there the clock tree is QEMU's fixed one. */
#include "mf_board.h"
#include "mf_cortexm.h"
#include "stm32_usart.h"

#define RCC_BASE 0x40021000u
#define RCC_CR MF_REG32(RCC_BASE + 0x00u)
#define RCC_CFGR MF_REG32(RCC_BASE + 0x04u)
#define RCC_APB2ENR MF_REG32(RCC_BASE + 0x18u)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_APB2ENR_IOPAEN (1u << 2)
#define RCC_APB2ENR_USART1EN (1u << 14)
#define FLASH_ACR MF_REG32(0x40022000u)
#define GPIOA_CRH MF_REG32(0x40010804u)

#define HSI_HZ 8000000u

static uint32_t sysclk_hz = HSI_HZ;
static uint32_t pclk2_hz = HSI_HZ;

static int start_pll_72mhz(void)
{
    RCC_CR |= RCC_CR_HSEON;
    if (!mf_wait_bits(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY)) {
        return 0;
    }
    FLASH_ACR = 2u | (1u << 4); /* 2 wait states above 48 MHz, prefetch buffer on */
    /* PLL source HSE (PLLSRC), x9 (PLLMUL 0111); AHB /1, APB1 /2 (PPRE1 100), APB2 /1 */
    RCC_CFGR = (RCC_CFGR & ~0x003F3FF3u) | (1u << 16) | (7u << 18) | (4u << 8);
    RCC_CR |= RCC_CR_PLLON;
    if (!mf_wait_bits(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) {
        return 0;
    }
    RCC_CFGR |= 2u;                            /* SW = PLL */
    return mf_wait_bits(&RCC_CFGR, 0xCu, 0x8u); /* SWS = PLL */
}

void mf_board_init(void)
{
    if (RCC_CR == 0u) {
#ifdef MF_EMULATOR_CLOCK_HZ
        sysclk_hz = MF_EMULATOR_CLOCK_HZ;
        pclk2_hz = MF_EMULATOR_CLOCK_HZ;
#endif
    } else if (start_pll_72mhz()) {
        sysclk_hz = 72000000u;
        pclk2_hz = 72000000u;
    }
}

uint32_t mf_board_clock_hz(void)
{
    return sysclk_hz;
}

/* The link UART, USART1 on APB2: PA9 TX (alternate push-pull, 50 MHz) / PA10 RX (floating
 * input, its reset state), the pins the ST system bootloader uses, so stm32flash and the link
 * share one USB serial adapter. */
uint32_t stm32_usart_setup(void)
{
    RCC_APB2ENR |= RCC_APB2ENR_IOPAEN | RCC_APB2ENR_USART1EN;
    GPIOA_CRH = (GPIOA_CRH & ~((0xFu << 4) | (0xFu << 8))) | (0xBu << 4) | (0x4u << 8);
    return pclk2_hz;
}
