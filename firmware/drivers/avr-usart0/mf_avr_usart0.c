/* USART0 at 115200 8N1: the port of the Arduino's USB serial bridge and of its bootloader
 * (PD0 RX / PD1 TX on the ATmega328P of the Uno and Nano, PE0 / PE1 on the Mega's ATmega2560).
 * Double speed: UBRR = 16 gives 117647 baud (+2.1%), as Optiboot and the Arduino core use.
 * Receive is interrupt driven into a ring; transmit polls UDRE. */
#include "mf_avr.h"
#include "mf_board.h"
#include "mf_cycles.h"
#include "mf_ring.h"

#define BAUD 115200ul

static mf_ring rx;

#ifndef USART_RX_vect /* the parts with more than one USART number their vectors */
#define USART_RX_vect USART0_RX_vect
#endif

ISR(USART_RX_vect)
{
    mf_ring_push(&rx, UDR0);
}

void mf_uart_init(void)
{
    UCSR0A = (uint8_t)(1u << U2X0);
    UBRR0 = (uint16_t)((MF_BOARD_CLOCK_HZ / 8ul + BAUD / 2u) / BAUD - 1u);
    UCSR0C = (uint8_t)((1u << UCSZ01) | (1u << UCSZ00)); /* 8N1 */
    UCSR0B = (uint8_t)((1u << RXEN0) | (1u << TXEN0) | (1u << RXCIE0));
}

void mf_uart_putc(uint8_t byte)
{
    while (!(UCSR0A & (1u << UDRE0))) {
    }
    UCSR0A = (uint8_t)((UCSR0A & (1u << U2X0)) | (1u << TXC0)); /* clear TXC for flush() */
    UDR0 = byte;
}

int mf_uart_poll(void)
{
    uint8_t sreg = mf_irq_save(); /* the ring's indices are wider than one byte */
    int c = mf_ring_pop(&rx);
    mf_irq_restore(sreg);
    return c;
}

int mf_uart_getc(uint32_t timeout_ms)
{
    uint64_t deadline = mf_time_ticks64() + (uint64_t)timeout_ms * (mf_board_clock_hz() / 1000u);
    for (;;) {
        int c;
        cli();
        c = mf_ring_pop(&rx);
        if (c >= 0) {
            sei();
            return c;
        }
        /* simavr's USART asks its feeder (the pty) for more input only when the program reads
         * UCSR0A, as a polling loop would; on the real part this read has no effect. */
        (void)UCSR0A;
        mf_avr_idle(); /* wakes on the RX interrupt or the Timer1 overflow */
        if (mf_time_ticks64() >= deadline) {
            return -1;
        }
    }
}

void mf_uart_flush(void)
{
    while (!(UCSR0A & (1u << TXC0))) {
    }
}
