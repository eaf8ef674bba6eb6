/* The few STM32F405 registers this board uses (RM0090). */
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
#define RCC_APB2ENR_USART1EN (1u << 4)

#define PWR_CR MF_REG32(0x40007000u)
#define FLASH_ACR MF_REG32(0x40023C00u)

#define GPIOA_BASE 0x40020000u
#define GPIOA_MODER MF_REG32(GPIOA_BASE + 0x00u)
#define GPIOA_AFRH MF_REG32(GPIOA_BASE + 0x24u)

/* USART registers, at the base of the link UART (board.json uart.base: USART1, 0x40011000). */
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

/* APB2 clock after mf_board_init() (board.c). */
uint32_t stm32_pclk2_hz(void);

#endif
