/* NUCLEO-L476RG clocks: 16 MHz HSI16 -> PLL -> 80 MHz SYSCLK (the part's rated speed, voltage
 * range 1, the reset default), AHB, APB1 and APB2 80. The part starts on the 4 MHz MSI; HSI16
 * needs no crystal. Every wait is bounded: a part whose PLL does not lock keeps its 4 MHz MSI
 * and reports that clock. The L4's RCC, flash and GPIO registers (RM0351) are not the F4's. */
#include "mf_board.h"
#include "mf_cortexm.h"
#include "stm32_usart_v2.h"

#define RCC_BASE 0x40021000u
#define RCC_CR MF_REG32(RCC_BASE + 0x00u)
#define RCC_CFGR MF_REG32(RCC_BASE + 0x08u)
#define RCC_PLLCFGR MF_REG32(RCC_BASE + 0x0Cu)
#define RCC_AHB2ENR MF_REG32(RCC_BASE + 0x4Cu)
#define RCC_APB1ENR1 MF_REG32(RCC_BASE + 0x58u)
#define RCC_CR_HSION (1u << 8)
#define RCC_CR_HSIRDY (1u << 10)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_AHB2ENR_GPIOAEN (1u << 0)
#define RCC_APB1ENR1_USART2EN (1u << 17)
#define FLASH_ACR MF_REG32(0x40022000u)
#define GPIOA_MODER MF_REG32(0x48000000u)
#define GPIOA_AFRL MF_REG32(0x48000020u)

#define MSI_HZ 4000000u

static uint32_t sysclk_hz = MSI_HZ;

static int start_pll_80mhz(void)
{
    RCC_CR |= RCC_CR_HSION;
    if (!mf_wait_bits(&RCC_CR, RCC_CR_HSIRDY, RCC_CR_HSIRDY)) {
        return 0;
    }
    /* source HSI16 (2), M=1 (0), N=10 (VCO 160 MHz), R=2 (0) with its output enabled (PLLREN) */
    RCC_PLLCFGR = 2u | (0u << 4) | (10u << 8) | (1u << 24) | (0u << 25);
    RCC_CR |= RCC_CR_PLLON;
    if (!mf_wait_bits(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) {
        return 0;
    }
    /* 4 wait states at 80 MHz in range 1, before the faster clock; prefetch and caches on */
    FLASH_ACR = 4u | (1u << 8) | (1u << 9) | (1u << 10);
    if (!mf_wait_bits(&FLASH_ACR, 7u, 4u)) {
        return 0;
    }
    RCC_CFGR = (RCC_CFGR & ~0x3FF3u) | 3u; /* SW = PLL; AHB, APB1, APB2 /1 */
    return mf_wait_bits(&RCC_CFGR, 0xCu, 0xCu); /* SWS = PLL */
}

void mf_board_init(void)
{
    if (start_pll_80mhz()) {
        sysclk_hz = 80000000u;
    }
}

uint32_t mf_board_clock_hz(void)
{
    return sysclk_hz;
}

/* The link UART, USART2 on APB1 (its kernel clock by default): PA2 TX / PA3 RX, AF7, the
 * ST-LINK's virtual COM port. */
uint32_t stm32_usart_setup(void)
{
    RCC_AHB2ENR |= RCC_AHB2ENR_GPIOAEN;
    RCC_APB1ENR1 |= RCC_APB1ENR1_USART2EN;
    GPIOA_MODER = (GPIOA_MODER & ~((3u << 4) | (3u << 6))) | (2u << 4) | (2u << 6);
    GPIOA_AFRL = (GPIOA_AFRL & ~((0xFu << 8) | (0xFu << 12))) | (7u << 8) | (7u << 12);
    return sysclk_hz;
}
