/* The STM32F4 reset and clock control, power and flash registers the F4 boards use (RM0090 for
 * the F405, RM0368 for the F401, RM0390 for the F446), and the switch of SYSCLK to the PLL. The
 * F7's RCC, PWR and FLASH have the same addresses and fields for these (RM0385): the F746 uses
 * it too. Header only; the boards give the values. */
#ifndef STM32F4_RCC_H
#define STM32F4_RCC_H

#include <stdint.h>

#include "mf_cortexm.h"

#define RCC_BASE 0x40023800u
#define RCC_CR MF_REG32(RCC_BASE + 0x00u)
#define RCC_PLLCFGR MF_REG32(RCC_BASE + 0x04u)
#define RCC_CFGR MF_REG32(RCC_BASE + 0x08u)
#define RCC_AHB1ENR MF_REG32(RCC_BASE + 0x30u)
#define RCC_APB1ENR MF_REG32(RCC_BASE + 0x40u)
#define RCC_APB2ENR MF_REG32(RCC_BASE + 0x44u)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_AHB1ENR_GPIOAEN (1u << 0)
#define RCC_AHB1ENR_GPIOBEN (1u << 1)
#define RCC_APB1ENR_PWREN (1u << 28)
#define RCC_APB1ENR_USART2EN (1u << 17)
#define RCC_APB2ENR_USART1EN (1u << 4)

#define PWR_CR MF_REG32(0x40007000u)  /* PWR_CR1 on the F7 */
#define PWR_CSR MF_REG32(0x40007004u) /* PWR_CSR1 on the F7 */
#define PWR_CR_ODEN (1u << 16)        /* over-drive (F446, F7: above 168 / 180 MHz) */
#define PWR_CR_ODSWEN (1u << 17)
#define PWR_CSR_ODRDY (1u << 16)
#define PWR_CSR_ODSWRDY (1u << 17)
#define FLASH_ACR MF_REG32(0x40023C00u)

#define GPIOA_BASE 0x40020000u
#define GPIOA_MODER MF_REG32(GPIOA_BASE + 0x00u)
#define GPIOA_AFRL MF_REG32(GPIOA_BASE + 0x20u)
#define GPIOA_AFRH MF_REG32(GPIOA_BASE + 0x24u)
#define GPIOB_BASE 0x40020400u
#define GPIOB_MODER MF_REG32(GPIOB_BASE + 0x00u)
#define GPIOB_AFRL MF_REG32(GPIOB_BASE + 0x20u)

/* USART2 on PA2 TX / PA3 RX (AF7), wired to the ST-LINK's virtual COM port on every F4
 * Nucleo-64: the USART's and GPIOA's clocks on, the pins to the USART. */
static inline void stm32f4_usart2_on_pa2_pa3(void)
{
    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN;
    RCC_APB1ENR |= RCC_APB1ENR_USART2EN;
    GPIOA_MODER = (GPIOA_MODER & ~((3u << 4) | (3u << 6))) | (2u << 4) | (2u << 6);
    GPIOA_AFRL = (GPIOA_AFRL & ~((0xFu << 8) | (0xFu << 12))) | (7u << 8) | (7u << 12);
}

/* QEMU 7.2 models no RCC for its STM32F405 (reads 0); on a real part RCC_CR is never 0 (the
 * HSI is on and ready out of reset). An F4 board emulated there runs QEMU's fixed clock. */
static inline int stm32f4_rcc_emulated(void)
{
    return RCC_CR == 0u;
}

/* Over-drive on (F446 above 168 MHz, F7 above 180 MHz): with the regulator at scale 1, after
 * the PLL locked and before SYSCLK switches to it. 1 when on, 0 if a wait timed out. */
static inline int stm32_overdrive_on(void)
{
    PWR_CR |= PWR_CR_ODEN;
    if (!mf_wait_bits(&PWR_CSR, PWR_CSR_ODRDY, PWR_CSR_ODRDY)) {
        return 0;
    }
    PWR_CR |= PWR_CR_ODSWEN;
    return mf_wait_bits(&PWR_CSR, PWR_CSR_ODSWRDY, PWR_CSR_ODSWRDY);
}

/* Start the PLL (RCC_PLLCFGR value) and wait for its lock: 1 when locked, 0 if not. */
static inline int stm32_pll_start(uint32_t pllcfgr)
{
    RCC_PLLCFGR = pllcfgr;
    RCC_CR |= RCC_CR_PLLON;
    return mf_wait_bits(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY);
}

/* SYSCLK from the locked PLL: the flash wait states and caches (FLASH_ACR value) before the
 * faster clock, then the bus prescalers (the HPRE/PPRE1/PPRE2 field bits of RCC_CFGR) and the
 * switch. 1 when SYSCLK runs from the PLL, 0 if the switch timed out. */
static inline int stm32_sysclk_from_pll(uint32_t flash_acr, uint32_t cfgr_prescalers)
{
    FLASH_ACR = flash_acr;
    RCC_CFGR = (RCC_CFGR & ~0xFCF3u) | cfgr_prescalers | 2u; /* SW = PLL */
    return mf_wait_bits(&RCC_CFGR, 0xCu, 0x8u);              /* SWS = PLL */
}

/* Both, for a part that needs nothing between them (no over-drive): 1 when SYSCLK runs from
 * the PLL, 0 if a wait timed out (the part stays on its current clock). The board chooses the
 * source and the values. */
static inline int stm32_switch_to_pll(uint32_t pllcfgr, uint32_t flash_acr, uint32_t cfgr_prescalers)
{
    return stm32_pll_start(pllcfgr) && stm32_sysclk_from_pll(flash_acr, cfgr_prescalers);
}

#endif
