/* The STM32 F1/F2/F4 USART as the link UART (board.json uart.base: USART1 on the Netduino Plus 2
 * and the Blue Pill, USART2, the ST-LINK's virtual COM port, on a Nucleo-64). The board routes
 * the clock and the pins (stm32_usart_setup in its board.c) and says the USART's bus clock. Receive is interrupt driven
 * into the common ring (arch/cortex-m) so bytes are not lost while we transmit; transmit polls TXE. */
#include "mf_board.h"
#include "mf_cortexm.h"
#include "mf_uart_cortexm.h"
#include "stm32_usart.h"

void mf_uart_irq_handler(void)
{
    /* Reading SR then DR also clears an overrun. */
    while (USART_SR & (USART_SR_RXNE | USART_SR_ORE)) {
        uint8_t byte = (uint8_t)USART_DR;
        mf_ring_push(&mf_uart_rx, byte);
    }
}

void mf_uart_init(void)
{
    uint32_t pclk = stm32_usart_setup();
    /* 16x oversampling: BRR = mantissa.fraction(4 bits) = pclk / baud, rounded (F1 and F4 alike) */
    USART_BRR = (pclk + MF_UART_BAUD / 2u) / MF_UART_BAUD;
    USART_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    mf_nvic_enable(MF_UART_IRQ);
}

void mf_uart_putc(uint8_t byte)
{
    while (!(USART_SR & USART_SR_TXE)) {
    }
    USART_DR = byte;
}

void mf_uart_flush(void)
{
    while (!(USART_SR & USART_SR_TC)) {
    }
}
