#include <stdint.h>

#include "mf_guard.h"
#include "mf_link.h" /* MF_TEXT: the reasons stay in flash on the AVR */
#include "mf_model_api.h"

#define STACK_PAINT 0x5AC3A55Cu
#define STACK_LIMIT_WORDS 4u  /* the stack's last words: touched = overflow */
#define PAINT_MARGIN_BYTES 256u /* left below the caller's frame: interrupts may use it meanwhile */

/* Different bytes, so a stray memset of any one value is seen. */
static uint8_t guard_byte(uint32_t i)
{
    return (uint8_t)(0xA5u + 0x3Bu * i);
}

#if MF_GUARD_PAINT_STACK
extern uint32_t _sstack[], _estack[]; /* the stack block, from the linker script */
#endif

void mf_guard_init(void)
{
    uint32_t i;
    for (i = 0; i < MF_ARENA_GUARD_BYTES; i++) {
        mf_model_arena_guards.below[i] = guard_byte(i);
        mf_model_arena_guards.above[i] = guard_byte(i);
    }
#if MF_GUARD_PAINT_STACK
    {
        volatile uint32_t here = 0;
        uintptr_t top = (uintptr_t)&here - PAINT_MARGIN_BYTES;
        uint32_t *p;
        for (p = _sstack; (uintptr_t)p < top; p++) {
            *p = STACK_PAINT;
        }
    }
#endif
}

static int arena_guard_intact(const uint8_t *g)
{
    uint32_t i;
    for (i = 0; i < MF_ARENA_GUARD_BYTES; i++) {
        if (g[i] != guard_byte(i)) {
            return 0;
        }
    }
    return 1;
}

uint32_t mf_guard_stack_bytes(void)
{
#if MF_GUARD_PAINT_STACK
    return (uint32_t)((uintptr_t)_estack - (uintptr_t)_sstack);
#else
    return 0;
#endif
}

uint32_t mf_guard_stack_high_water(void)
{
#if MF_GUARD_PAINT_STACK
    const uint32_t *p = _sstack;
    while (p < _estack && *p == STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)_estack - (uintptr_t)p);
#else
    return 0;
#endif
}

uint8_t mf_guard_check(const char **why)
{
    uint8_t broken = 0;
    const char *first = 0;
    if (!arena_guard_intact(mf_model_arena_guards.above)) {
        broken |= MF_GUARD_ARENA_BROKEN;
        first = MF_TEXT("arena overflow: a layer wrote past the end of the arena (guard bytes changed)");
    } else if (!arena_guard_intact(mf_model_arena_guards.below)) {
        broken |= MF_GUARD_ARENA_BROKEN;
        first = MF_TEXT("arena overflow: a layer wrote before the start of the arena (guard bytes changed)");
    }
    if (mf_guard_stack_bytes() != 0u &&
        mf_guard_stack_high_water() > mf_guard_stack_bytes() - 4u * STACK_LIMIT_WORDS) {
        broken |= MF_GUARD_STACK_BROKEN;
        if (first == 0) {
            first = MF_TEXT("stack overflow: the stack reached the end of its block (board.json stack_bytes)");
        }
    }
    if (why != 0) {
        *why = first;
    }
    return broken;
}
