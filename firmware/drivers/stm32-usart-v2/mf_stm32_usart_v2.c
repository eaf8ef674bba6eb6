/* The STM32 F7/L4 USART as the link UART (board.json uart.base: USART1 on the STM32F746G-DISCO,
 * USART2 on the NUCLEO-L476RG, each the ST-LINK's virtual COM port). The board routes the clock
 * and the pins (stm32_usart_setup in its board.c) and says the USART's kernel clock. Receive is
 * interrupt driven into the common ring (arch/cortex-m) so bytes are not lost while we transmit;
 * transmit polls TXE. */
#include "mf_board.h"
#include "mf_cortexm.h"
#include "mf_uart_cortexm.h"
#include "stm32_usart_v2.h"

void mf_uart_irq_handler(void)
{
    /* An overrun stops reception until its flag is cleared (ICR, not a read as on the F4). */
    if (USART_ISR & USART_ISR_ORE) {
        USART_ICR = USART_ICR_ORECF;
    }
    while (USART_ISR & USART_ISR_RXNE) {
        mf_ring_push(&mf_uart_rx, (uint8_t)USART_RDR);
    }
}

void mf_uart_init(void)
{
    uint32_t clk = stm32_usart_setup();
    /* 16x oversampling: BRR = USARTDIV = clock / baud, rounded */
    USART_BRR = (clk + MF_UART_BAUD / 2u) / MF_UART_BAUD;
    USART_CR1 = USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE | USART_CR1_UE;
    mf_nvic_enable(MF_UART_IRQ);
}

void mf_uart_putc(uint8_t byte)
{
    while (!(USART_ISR & USART_ISR_TXE)) {
    }
    USART_TDR = byte;
}

void mf_uart_flush(void)
{
    while (!(USART_ISR & USART_ISR_TC)) {
    }
}
