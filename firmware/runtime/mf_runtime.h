/* The firmware runtime: a table of link message handlers and the loop that serves them.
 * Extensions (on-device learning, audio streaming...) add message types by registering a
 * table of routes from their mf_ext_<name>_register(); the project's generated
 * mf_extensions.c calls those, so the dispatcher itself never changes. */
#ifndef MF_RUNTIME_H
#define MF_RUNTIME_H

#include <stdint.h>

#include "mf_config.h"
#include "mf_const.h"
#include "mf_link.h"

#ifndef MF_LINK_MAX_HANDLERS
#define MF_LINK_MAX_HANDLERS 48 /* core 7 + frontend 5 + learning 11 + rnn 4 today; HELLO lists them all */
#endif
/* A frame whose bytes stop for this long is dropped (and, after an oversized length,
 * the line must be idle this long before the next frame is read). */
#ifndef MF_LINK_BYTE_TIMEOUT_MS
#define MF_LINK_BYTE_TIMEOUT_MS 200u
#endif
#define MF_EXIT_FAULT 127 /* exit code after a CPU fault was reported */

/* HELLO flags. */
#define MF_HELLO_FLAG_SEMIHOSTING 0x01u
#define MF_HELLO_FLAG_PROFILE 0x02u

typedef void (*mf_link_handler)(const mf_frame *req);

/* 0 = registered; -1 = table full or type already taken or reserved. */
int mf_link_register(uint8_t type, mf_link_handler handler);

/* One message type and its handler. The core and each extension list theirs in one table,
 *     static const mf_link_route routes[] MF_CONST = {{MSG_A, on_a}, {MSG_B, on_b}};
 * kept in flash (MF_CONST: no RAM on the AVR either), and register it with
 * MF_LINK_REGISTER_ROUTES(routes). */
typedef struct {
    uint8_t type;
    mf_link_handler handler;
} mf_link_route;

/* Registers routes[0..count) in order; returns how many were refused. */
uint32_t mf_link_register_routes(const mf_link_route *routes, uint32_t count);
#define MF_LINK_REGISTER_ROUTES(routes) \
    mf_link_register_routes((routes), (uint32_t)(sizeof(routes) / sizeof((routes)[0])))
/* Registered types, in registration order (for HELLO). */
uint32_t mf_link_handler_count(void);
uint8_t mf_link_handler_type(uint32_t i);

/* Brings up board, cycle counter and UART, registers the handlers and sends the boot HELLO.
 * The entry point (the project's main.c, or another build system's) calls it once, then
 * mf_runtime_serve_once() forever. */
void mf_runtime_start(void);
void mf_dispatch(const mf_frame *req);
/* Reads and handles at most one byte; returns after a byte or an inter-byte timeout. */
void mf_runtime_serve_once(void);
/* Type and seq of the request being handled (for fault reports). */
uint8_t mf_runtime_current_seq(void);
uint8_t mf_runtime_current_type(void);

/* Reply helpers: a reply carries the request's seq and type | MF_MSG_REPLY. */
void mf_reply_begin(const mf_frame *req, uint16_t len);
void mf_reply_error(const mf_frame *req, uint8_t code, const char *msg);

/* The core messages (HELLO ... EXIT), and HELLO itself for the boot announcement. */
void mf_handlers_core_register(void);
void mf_send_hello(uint8_t seq);
/* Generated per project (mf_extensions.c): registers each extension's handlers. */
void mf_extensions_register(void);

#endif
