/* The STM32 USART of the F7 and L4 families (and F0/F3/G4/L0): status in ISR, flags cleared
 * through ICR, receive and transmit in separate RDR/TDR, the enable bit UE at bit 0 of CR1
 * (RM0385 for the F746, RM0351 for the L476). The F1/F2/F4 USART is firmware/drivers/stm32-usart.
 * Registers at the link UART's base (board.json uart.base). */
#ifndef STM32_USART_V2_H
#define STM32_USART_V2_H

#include <stdint.h>

#include "mf_config.h"
#include "mf_cortexm.h"

#define USART_CR1 MF_REG32(MF_UART_BASE + 0x00u)
#define USART_BRR MF_REG32(MF_UART_BASE + 0x0Cu)
#define USART_ISR MF_REG32(MF_UART_BASE + 0x1Cu)
#define USART_ICR MF_REG32(MF_UART_BASE + 0x20u)
#define USART_RDR MF_REG32(MF_UART_BASE + 0x24u)
#define USART_TDR MF_REG32(MF_UART_BASE + 0x28u)
#define USART_CR1_UE (1u << 0)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_ISR_ORE (1u << 3)
#define USART_ISR_RXNE (1u << 5)
#define USART_ISR_TC (1u << 6)
#define USART_ISR_TXE (1u << 7)
#define USART_ICR_ORECF (1u << 3)

/* The board's part of the link UART (board.c): the USART's and its GPIO ports' clocks on, its
 * TX/RX pins to their alternate function; returns the USART's kernel clock in Hz (its bus clock,
 * the reset selection; after mf_board_init()). */
uint32_t stm32_usart_setup(void);

#endif
