/* The vector table and C start-up are avr-libc's (crt for -mmcu=atmega328p); handlers are
 * bound by name with ISR(): USART_RX here (uart.c), TIMER1_OVF (the cycle counter) and
 * BADISR for the rest (firmware/runtime/arch/avr/). Nothing else to do. */
