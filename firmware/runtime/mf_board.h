/* Hooks every board implements (boards/<name>/board.c and uart.c). The runtime and the
 * link code only talk to the hardware through these, so a new board is one folder. */
#ifndef MF_BOARD_H
#define MF_BOARD_H

#include <stdint.h>

/* Set by the project Makefile from board.json. */
#ifndef MF_BOARD_NAME
#error "MF_BOARD_NAME must be defined by the build (board.json name)"
#endif
#ifndef MF_BOARD_CLOCK_HZ
#error "MF_BOARD_CLOCK_HZ must be defined by the build (board.json clock_hz)"
#endif

/* Clocks and interrupt controller; called first thing in main(). */
void mf_board_init(void);
/* CPU clock actually running after mf_board_init(). */
uint32_t mf_board_clock_hz(void);
/* Sleep until the next interrupt (returns at once if one is pending). */
void mf_board_idle(void);
/* End the program: semihosting exit under an emulator, a reset on real hardware. */
void mf_board_exit(int code) __attribute__((noreturn));

void mf_uart_init(void);
void mf_uart_putc(uint8_t byte);
/* Next received byte, or -1 when none is waiting (never blocks). */
int mf_uart_poll(void);
/* Next received byte, or -1 after timeout_ms without one. */
int mf_uart_getc(uint32_t timeout_ms);
/* Wait until every byte written has left the transmitter. */
void mf_uart_flush(void);

#endif
