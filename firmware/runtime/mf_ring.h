/* Single-producer (interrupt) / single-consumer byte ring for UART receive. */
#ifndef MF_RING_H
#define MF_RING_H

#include <stdint.h>

#ifndef MF_RING_BYTES
#define MF_RING_BYTES 256u /* power of two */
#endif

typedef struct {
    volatile uint8_t buf[MF_RING_BYTES];
    volatile uint32_t head; /* written by the interrupt */
    volatile uint32_t tail; /* written by the reader */
    volatile uint32_t dropped;
} mf_ring;

static inline void mf_ring_push(mf_ring *r, uint8_t byte)
{
    uint32_t head = r->head;
    if (head - r->tail >= MF_RING_BYTES) {
        r->dropped++;
        return;
    }
    r->buf[head & (MF_RING_BYTES - 1u)] = byte;
    r->head = head + 1u;
}

static inline int mf_ring_pop(mf_ring *r)
{
    uint32_t tail = r->tail;
    uint8_t byte;
    if (tail == r->head) {
        return -1;
    }
    byte = r->buf[tail & (MF_RING_BYTES - 1u)];
    r->tail = tail + 1u;
    return byte;
}

#endif
