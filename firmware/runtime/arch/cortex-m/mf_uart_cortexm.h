/* The contract between the Cortex-M UART code and a UART driver (firmware/drivers/<kind>/ or
 * a board's uart.c). The driver implements mf_uart_init, mf_uart_putc and mf_uart_flush
 * (mf_board.h) and the receive interrupt mf_uart_irq_handler, which the generated vector
 * table places at board.json uart.irq; the interrupt pushes every received byte into
 * mf_uart_rx. Polling and timed reads (mf_uart_poll, mf_uart_getc) are common code. */
#ifndef MF_UART_CORTEXM_H
#define MF_UART_CORTEXM_H

#include "mf_ring.h"

extern mf_ring mf_uart_rx;
void mf_uart_irq_handler(void);

#endif
