/* Firmware entry: bring up the board, announce itself with HELLO, serve the link. */
#include "mf_board.h"
#include "mf_cycles.h"
#include "mf_runtime.h"

int main(void)
{
    mf_board_init();
    mf_cycles_init();
    mf_uart_init();
    mf_handlers_core_register();
    mf_extensions_register();
    /* Unsolicited HELLO (seq 0): tells a host attached from boot that we are ready. */
    mf_send_hello(0);
    for (;;) {
        mf_runtime_serve_once();
    }
}
