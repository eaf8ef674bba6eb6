/* Constants stay in flash: weights, biases, multipliers, tables and parameter structs.
 *
 * On a Cortex-M, flash is in the data address space: a `const` array is read with a plain
 * load. The AVR is a Harvard machine: a `const` array is copied to RAM at start-up unless it
 * is placed in program memory (PROGMEM), and program memory is read with LPM (pgm_read_*).
 * Generated code declares every constant `MF_CONST`, and kernels read constants only through
 * these accessors, so one kernel source serves both: on the Cortex-M they compile to the
 * same loads as before. */
#ifndef MF_CONST_H
#define MF_CONST_H

#include <stddef.h>
#include <stdint.h>

#if defined(__AVR__)
#include <avr/pgmspace.h>
#include <string.h>

#define MF_CONST PROGMEM

static inline int8_t mf_ld_s8(const int8_t *p)
{
    return (int8_t)pgm_read_byte(p);
}

static inline uint8_t mf_ld_u8(const uint8_t *p)
{
    return pgm_read_byte(p);
}

static inline int16_t mf_ld_s16(const int16_t *p)
{
    return (int16_t)pgm_read_word(p);
}

static inline int32_t mf_ld_s32(const int32_t *p)
{
    return (int32_t)pgm_read_dword(p);
}

static inline uint32_t mf_ld_u32(const uint32_t *p)
{
    return pgm_read_dword(p);
}

static inline float mf_ld_f32(const float *p)
{
    return pgm_read_float(p);
}

/* n bytes of constants into RAM (e.g. the initial value of a trainable tensor). */
static inline void mf_copy_const(void *dst, const void *src, size_t n)
{
    memcpy_P(dst, src, n);
}

/* A kernel's parameter struct as `p->field`: on the AVR a copy on the stack. */
#define MF_PARAMS(type, p, src)                                                            \
    type p##_ram;                                                                          \
    const type *const p = (memcpy_P(&p##_ram, (src), sizeof(type)), &p##_ram)

#else
#include <string.h>

#define MF_CONST

static inline int8_t mf_ld_s8(const int8_t *p)
{
    return *p;
}

static inline uint8_t mf_ld_u8(const uint8_t *p)
{
    return *p;
}

static inline int16_t mf_ld_s16(const int16_t *p)
{
    return *p;
}

static inline int32_t mf_ld_s32(const int32_t *p)
{
    return *p;
}

static inline uint32_t mf_ld_u32(const uint32_t *p)
{
    return *p;
}

static inline float mf_ld_f32(const float *p)
{
    return *p;
}

static inline void mf_copy_const(void *dst, const void *src, size_t n)
{
    memcpy(dst, src, n);
}

#define MF_PARAMS(type, p, src) const type *const p = (src)

#endif

#endif
