/* Host board stub for the fuzz target (host_board.c). */
#ifndef HOST_BOARD_H
#define HOST_BOARD_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

extern jmp_buf host_exit_jump; /* mf_board_exit() (an EXIT request) jumps here */

/* The bytes the firmware's UART receives next; at their end it reads "line idle". */
void host_board_feed(const uint8_t *data, size_t n);
int host_board_rx_left(void);
/* Aborts if the firmware left a reply frame half sent. */
void host_board_check_idle(void);
uint32_t host_board_frames_sent(void);

#endif
