/* Memory guards: the arena's guard bytes (MF_ARENA_DEFINE, mf_model_api.h) and, where the
 * linker reserves a stack block (Cortex-M: _sstack.._estack), a painted stack whose
 * high-water mark is measured. The core handlers paint at boot, check after every invoke
 * (an INVOKE that broke a guard is answered with ERROR OVERFLOW, never with its outputs)
 * and report both in HELLO. */
#ifndef MF_GUARD_H
#define MF_GUARD_H

#include <stdint.h>

/* Paint the stack: needs the linker's _sstack/_estack (cortex-m-sections.ld). */
#ifndef MF_GUARD_PAINT_STACK
#if defined(__arm__)
#define MF_GUARD_PAINT_STACK 1
#else
#define MF_GUARD_PAINT_STACK 0
#endif
#endif

/* Status bits (HELLO's guard byte). */
#define MF_GUARD_ARENA_BROKEN 0x01u /* a guard byte below or above the arena changed */
#define MF_GUARD_STACK_BROKEN 0x02u /* the stack reached the last words of its block */

/* Fills the arena guards and paints the unused stack. Call once at boot, shallow in main. */
void mf_guard_init(void);
/* What is broken now (MF_GUARD_*_BROKEN bits, 0 = intact); *why names the first. */
uint8_t mf_guard_check(const char **why);
/* Size of the painted stack block (0 when not painted) and its deepest use since boot. */
uint32_t mf_guard_stack_bytes(void);
uint32_t mf_guard_stack_high_water(void);

#endif
