/* STM32F405 vector table: 16 core exceptions + 82 interrupts; only USART1 (IRQ 37) is
 * used, every other interrupt is reported as unexpected by Default_Handler. */
#include <stdint.h>

#include "mf_vectors.h"

void USART1_IRQHandler(void);

__attribute__((section(".isr_vector"), used)) const mf_vector mf_vectors[16 + 82] = {
    MF_CORE_VECTORS
    MF_D32 MF_D4 MF_D1 /* IRQ 0..36 */
    USART1_IRQHandler, /* IRQ 37 */
    MF_D32 MF_D8 MF_D4 /* IRQ 38..81 */
};
