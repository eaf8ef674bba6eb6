/* STM32F4 USART1 (PA9 TX / PA10 RX, AF7: the pins the ST system bootloader uses too).
 * Receive is interrupt driven into the common ring (arch/cortex-m) so bytes are not lost
 * while we transmit; transmit polls TXE. */
#include "mf_board.h"
#include "mf_cortexm.h"
#include "mf_uart_cortexm.h"
#include "stm32f4_regs.h"

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
    uint32_t pclk2 = stm32_pclk2_hz();
    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN;
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    /* PA9, PA10 alternate function 7 */
    GPIOA_MODER = (GPIOA_MODER & ~((3u << 18) | (3u << 20))) | (2u << 18) | (2u << 20);
    GPIOA_AFRH = (GPIOA_AFRH & ~((0xFu << 4) | (0xFu << 8))) | (7u << 4) | (7u << 8);
    /* 16x oversampling: BRR = mantissa.fraction(4 bits) = pclk / baud, rounded */
    USART_BRR = (pclk2 + MF_UART_BAUD / 2u) / MF_UART_BAUD;
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
