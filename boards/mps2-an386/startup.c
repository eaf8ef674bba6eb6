/* AN386 vector table: 16 core exceptions + 32 interrupts; UART0 receive is IRQ 0. */
#include <stdint.h>

#include "mf_vectors.h"

void UART0_RX_IRQHandler(void);

__attribute__((section(".isr_vector"), used)) const mf_vector mf_vectors[16 + 32] = {
    MF_CORE_VECTORS
    UART0_RX_IRQHandler, /* IRQ 0 */
    MF_D16 MF_D8 MF_D4 MF_D1 MF_D1 MF_D1 /* IRQ 1..31 */
};
