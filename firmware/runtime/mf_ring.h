/* Single-producer (interrupt) / single-consumer byte ring for UART receive. */
#ifndef MF_RING_H
#define MF_RING_H

#include <stdint.h>

#include "mf_link.h" /* MF_LINK_MAX_PAYLOAD */

/* The ring holds a whole request frame: sync (2) + type, seq, length (4) + payload + CRC (2).
 * The host sends one frame and waits for its reply, so such a ring never overflows, however long
 * the receive interrupt keeps the main loop from draining it. QEMU can feed a whole frame to one
 * interrupt (each DR read lets it deliver the next byte at once): with a 256-byte ring under a
 * 1 KB payload, about every other audio chunk lost bytes and came back "truncated frame". */
#define MF_RING_FRAME_BYTES (MF_LINK_MAX_PAYLOAD + 8)
#ifndef MF_RING_BYTES /* the smallest power of two that holds a frame, at least 128 */
#if MF_RING_FRAME_BYTES <= 128
#define MF_RING_BYTES 128u
#elif MF_RING_FRAME_BYTES <= 256
#define MF_RING_BYTES 256u
#elif MF_RING_FRAME_BYTES <= 512
#define MF_RING_BYTES 512u
#elif MF_RING_FRAME_BYTES <= 1024
#define MF_RING_BYTES 1024u
#elif MF_RING_FRAME_BYTES <= 2048
#define MF_RING_BYTES 2048u
#else
#define MF_RING_BYTES 4096u
#endif
#endif
#if (MF_RING_BYTES & (MF_RING_BYTES - 1u)) != 0
#error "MF_RING_BYTES must be a power of two"
#endif
#if MF_RING_FRAME_BYTES > MF_RING_BYTES
#error "MF_RING_BYTES must hold a whole frame (MF_LINK_MAX_PAYLOAD + 8)"
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
