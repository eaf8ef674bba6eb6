/* The few STM32F4 registers the STM32F4 boards use (RM0090 for the F405, RM0368 for the F401). */
#ifndef STM32F4_REGS_H
#define STM32F4_REGS_H

#include <stdint.h>

#include "mf_config.h"
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
#define RCC_APB1ENR_PWREN (1u << 28)
#define RCC_APB1ENR_USART2EN (1u << 17)
#define RCC_APB2ENR_USART1EN (1u << 4)

#define PWR_CR MF_REG32(0x40007000u)
#define FLASH_ACR MF_REG32(0x40023C00u)

#define GPIOA_BASE 0x40020000u
#define GPIOA_MODER MF_REG32(GPIOA_BASE + 0x00u)
#define GPIOA_AFRL MF_REG32(GPIOA_BASE + 0x20u)
#define GPIOA_AFRH MF_REG32(GPIOA_BASE + 0x24u)

/* USART registers, at the base of the link UART (board.json uart.base). */
#define USART_SR MF_REG32(MF_UART_BASE + 0x00u)
#define USART_DR MF_REG32(MF_UART_BASE + 0x04u)
#define USART_BRR MF_REG32(MF_UART_BASE + 0x08u)
#define USART_CR1 MF_REG32(MF_UART_BASE + 0x0Cu)
#define USART_SR_ORE (1u << 3)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TC (1u << 6)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_UE (1u << 13)

/* Wait until (*reg & mask) == value, a bounded number of reads: 1 if it came, 0 if not (a
 * crystal that does not start, a PLL that does not lock). */
#define STM32_READY_SPINS 500000u
static inline int stm32_wait_bits(volatile uint32_t *reg, uint32_t mask, uint32_t value)
{
    uint32_t i;
    for (i = 0; i < STM32_READY_SPINS; i++) {
        if ((*reg & mask) == value) {
            return 1;
        }
    }
    return 0;
}

/* Run SYSCLK from the PLL: configure it (RCC_PLLCFGR value), lock it, set the flash wait states
 * and caches (FLASH_ACR value) before the faster clock, then the bus prescalers (the HPRE/PPRE1/
 * PPRE2 field bits of RCC_CFGR) and switch. 1 when SYSCLK runs from the PLL, 0 if a wait timed
 * out (the part stays on its current clock). The board chooses the source and the values. */
static inline int stm32_switch_to_pll(uint32_t pllcfgr, uint32_t flash_acr, uint32_t cfgr_prescalers)
{
    RCC_PLLCFGR = pllcfgr;
    RCC_CR |= RCC_CR_PLLON;
    if (!stm32_wait_bits(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) {
        return 0;
    }
    FLASH_ACR = flash_acr;
    RCC_CFGR = (RCC_CFGR & ~0xFCF3u) | cfgr_prescalers | 2u; /* SW = PLL */
    return stm32_wait_bits(&RCC_CFGR, 0xCu, 0x8u);            /* SWS = PLL */
}

/* The board's part of the link UART (board.c): the USART's and its GPIO port's clocks on, its
 * TX/RX pins to their alternate function; returns the USART's bus clock in Hz (after
 * mf_board_init()). */
uint32_t stm32_usart_setup(void);

#endif
