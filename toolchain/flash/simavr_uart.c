/* mcuforge's simavr runner: one AVR running a firmware ELF (or Intel HEX images) with its
 * USART0 on a pseudo-terminal, both ways (libsimavr + libsimavrparts' uart_pty).
 *
 *   mcuforge-simavr MCU CLOCK_HZ FIRMWARE [FIRMWARE...]
 *
 * A FIRMWARE ending in .hex is loaded at the addresses it names (e.g. a bootloader); the
 * run starts at the last one's lowest address. Prints "pty PATH" and waits for a line on
 * stdin (the host opens the pty first: bytes sent before would be lost), then runs until
 * the firmware halts with `cli; sleep`, prints "cycles N", "stack N" (the most stack the
 * firmware used: RAM above .bss is painted before the run) and "halted CODE" (or "crashed
 * pc ADDR") and exits when stdin closes. Exit status: r24 at the halt (the firmware's exit
 * code), 125 if the simulated part crashed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <simavr/parts/uart_pty.h>
#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_hex.h>

#define STACK_PAINT 0xA5u

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int load_hex(avr_t *avr, const char *path, uint32_t *start)
{
    ihex_chunk_p chunks = NULL;
    int i, n = read_ihex_chunks(path, &chunks);
    if (n <= 0) {
        fprintf(stderr, "mcuforge-simavr: cannot read %s\n", path);
        return -1;
    }
    *start = chunks[0].baseaddr;
    for (i = 0; i < n; i++) {
        if (chunks[i].baseaddr + chunks[i].size > avr->flashend + 1u) {
            fprintf(stderr, "mcuforge-simavr: %s does not fit the flash\n", path);
            return -1;
        }
        memcpy(avr->flash + chunks[i].baseaddr, chunks[i].data, chunks[i].size);
        if (chunks[i].baseaddr < *start) {
            *start = chunks[i].baseaddr;
        }
    }
    free_ihex_chunks(chunks);
    return 0;
}

int main(int argc, char **argv)
{
    static uart_pty_t pty;
    elf_firmware_t fw;
    avr_t *avr;
    char line[16];
    int state, i, have_start = 0;
    uint32_t start = 0, a, ram_used = 0;

    if (argc < 4) {
        fprintf(stderr, "usage: %s MCU CLOCK_HZ FIRMWARE.elf|IMAGE.hex...\n", argv[0]);
        return 2;
    }
    avr = avr_make_mcu_by_name(argv[1]);
    if (avr == NULL) {
        fprintf(stderr, "mcuforge-simavr: unknown MCU '%s'\n", argv[1]);
        return 2;
    }
    avr_init(avr);
    avr->frequency = (uint32_t)strtoul(argv[2], NULL, 10);
    for (i = 3; i < argc; i++) {
        if (ends_with(argv[i], ".hex")) {
            if (load_hex(avr, argv[i], &start) != 0) {
                return 2;
            }
            have_start = 1;
            continue;
        }
        memset(&fw, 0, sizeof fw);
        if (elf_read_firmware(argv[i], &fw) != 0) {
            fprintf(stderr, "mcuforge-simavr: cannot read ELF %s\n", argv[i]);
            return 2;
        }
        fw.frequency = avr->frequency;
        strncpy(fw.mmcu, argv[1], sizeof fw.mmcu - 1);
        avr_load_firmware(avr, &fw);
        ram_used = fw.datasize + fw.bsssize;
    }
    if (have_start) {
        avr->pc = start;
        avr->codeend = avr->flashend;
    }

    /* Paint the RAM the firmware's data and bss leave free: what the stack overwrites shows. */
    for (a = avr->ioend + 1u + ram_used; a <= avr->ramend; a++) {
        avr->data[a] = STACK_PAINT;
    }

    uart_pty_init(avr, &pty);
    uart_pty_connect(&pty, '0');
    /* simavr sleeps 1 us (really ~60) on every poll of an idle UCSR0A: transmitting a byte
     * would take ~10 ms of host time. */
    {
        uint32_t flags = 0;
        avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
        flags &= ~(uint32_t)AVR_UART_FLAG_POOL_SLEEP;
        avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    }
    printf("pty %s\n", pty.port[0].slavename);
    fflush(stdout);
    if (fgets(line, sizeof line, stdin) == NULL) {
        uart_pty_stop(&pty);
        return 0; /* the host went away before starting the run */
    }

    do {
        state = avr_run(avr);
    } while (state != cpu_Done && state != cpu_Crashed);

    /* The last bytes the firmware sent (its EXIT reply) may still be in uart_pty's queue:
     * let its thread write them, then stay until the host has read them and closes our
     * stdin (a closed pty loses what the host has not read yet). */
    for (i = 0; i < 1000 && pty.pty.in.read != pty.pty.in.write; i++) {
        usleep(1000);
    }
    printf("cycles %llu\n", (unsigned long long)avr->cycle);
    for (a = avr->ioend + 1u + ram_used; a <= avr->ramend && avr->data[a] == STACK_PAINT; a++) {
    }
    printf("stack %u\n", (unsigned)(avr->ramend + 1u - a));
    if (state == cpu_Crashed) {
        printf("crashed pc 0x%05x\n", avr->pc);
    } else {
        printf("halted %d\n", avr->data[24]);
    }
    fflush(stdout);
    while (fgets(line, sizeof line, stdin) != NULL) {
    }
    /* Not uart_pty_stop(): it sends SIGINT to its thread, which ends the whole process. */
    _exit(state == cpu_Crashed ? 125 : avr->data[24]);
}
