/* The STM32 USART of the F1, F2 and F4 families (SR/DR/BRR/CR1 at 0x00..0x0C; RM0008, RM0090):
 * QEMU models the same block for its F100 and F405 ("stm32f2xx-usart"). The L4/F7 USART has
 * other registers (firmware/drivers/stm32-usart-v2). Registers at the link UART's base
 * (board.json uart.base). */
#ifndef STM32_USART_H
#define STM32_USART_H

#include <stdint.h>

#include "mf_config.h"
#include "mf_cortexm.h"

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

/* The board's part of the link UART (board.c): the USART's and its GPIO port's clocks on, its
 * TX/RX pins to their alternate function; returns the USART's bus clock in Hz (after
 * mf_board_init()). */
uint32_t stm32_usart_setup(void);

#endif
