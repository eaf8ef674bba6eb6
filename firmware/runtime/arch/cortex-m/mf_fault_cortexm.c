/* Fault report: one ERROR frame (code MF_ERR_FAULT) naming the fault, the faulting PC and
 * the fault status registers, then exit so the host sees it instead of a hang. */
#include <stdint.h>

#include "mf_board.h"
#include "mf_cortexm.h"
#include "mf_link.h"
#include "mf_runtime.h"

static char *put_text(char *out, const char *s)
{
    while (*s != '\0') {
        *out++ = *s++;
    }
    return out;
}

static char *put_hex(char *out, const char *label, uint32_t v)
{
    int shift;
    out = put_text(out, label);
    *out++ = '0';
    *out++ = 'x';
    for (shift = 28; shift >= 0; shift -= 4) {
        *out++ = "0123456789abcdef"[(v >> shift) & 0xFu];
    }
    return out;
}

void mf_fault_report(uint32_t kind, const uint32_t *frame, uint32_t exc_return);
void mf_fault_report(uint32_t kind, const uint32_t *frame, uint32_t exc_return)
{
    static const char *const names[] = {"UnexpectedIRQ", "Reset", "NMI", "HardFault",
                                        "MemManage", "BusFault", "UsageFault"};
    char msg[112];
    char *p = msg;
    (void)exc_return;
    p = put_text(p, names[kind < 7u ? kind : 0u]);
    p = put_hex(p, " pc=", frame[6]);
    p = put_hex(p, " lr=", frame[5]);
    p = put_hex(p, " cfsr=", MF_SCB_CFSR);
    p = put_hex(p, " hfsr=", MF_SCB_HFSR);
    if (MF_SCB_CFSR & (1u << 15)) { /* BFARVALID */
        p = put_hex(p, " bfar=", MF_SCB_BFAR);
    }
    *p = '\0';
    mf_link_send_error(mf_runtime_current_seq(), MF_ERR_FAULT, mf_runtime_current_type(), msg);
    mf_uart_flush();
    mf_board_exit(MF_EXIT_FAULT);
}
