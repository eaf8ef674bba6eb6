/* mcuforge's simavr runner: one AVR running a firmware ELF (or Intel HEX images) with its
 * USART0 on a pseudo-terminal, both ways (libsimavr + libsimavrparts' uart_pty).
 *
 *   mcuforge-simavr [--auto-reset] MCU CLOCK_HZ FIRMWARE [FIRMWARE...]
 *
 * A FIRMWARE ending in .hex is loaded at the addresses it names (e.g. a bootloader); the
 * run starts at the last one's lowest address. Prints "pty PATH" and waits for a line on
 * stdin (the host opens the pty first: bytes sent before would be lost), then runs until
 * the firmware halts with `cli; sleep`, prints "cycles N", "stack N" (for an ELF: the most
 * stack the firmware used, RAM above .bss being painted before the run) and "halted CODE" (or "crashed
 * pc ADDR") and exits when stdin closes. Exit status: r24 at the halt (the firmware's exit
 * code), 125 if the simulated part crashed.
 *
 * --auto-reset stands in for the Uno's auto-reset (the host's DTR pulse resets the part, so
 * Optiboot's 1 s upload window opens when avrdude is ready to talk). A pty carries no DTR: the
 * part stays in reset after "go" until the host's first byte arrives (avrdude's first
 * GET_SYNC, which Optiboot then reads), and while it runs in the bootloader image it runs no
 * faster than real time, so that window is at least 1 s of host time, as on the board. Without
 * it the bootloader started when the host said "go", ran ~2x faster than real time, and
 * gave up before a slow-starting avrdude (300 ms of DTR pulse, its config parse, a loaded
 * host) sent anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include <simavr/parts/uart_pty.h>
#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>

#define STACK_PAINT 0xA5u
#define MCUSR_ADDR 0x54u /* ATmega48..328 family */
#define EXTRF_BIT 0x02u

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Intel HEX into flash: data (00), end (01), extended segment/linear address (02, 04);
 * start addresses (03, 05) are ignored. simavr's own reader refuses type 03, which the
 * Arduino bootloaders carry. *start: the lowest address loaded. */
static int load_hex(avr_t *avr, const char *path, uint32_t *start)
{
    char line[600];
    uint32_t base = 0, lowest = UINT32_MAX;
    int n = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "mcuforge-simavr: cannot open %s\n", path);
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned count, addr, type, i, b, sum;
        if (line[0] != ':' || sscanf(line + 1, "%2x%4x%2x", &count, &addr, &type) != 3 ||
            strlen(line) < 11u + 2u * count) {
            continue;
        }
        sum = count + (addr >> 8) + (addr & 0xFFu) + type;
        for (i = 0; i <= count; i++) {
            sscanf(line + 9 + 2 * i, "%2x", &b);
            sum += b;
        }
        if ((sum & 0xFFu) != 0) {
            fprintf(stderr, "mcuforge-simavr: %s: bad checksum in line %d\n", path, n + 1);
            fclose(f);
            return -1;
        }
        if (type == 0) {
            for (i = 0; i < count; i++) {
                uint32_t a = base + addr + i;
                sscanf(line + 9 + 2 * i, "%2x", &b);
                if (a > avr->flashend) {
                    fprintf(stderr, "mcuforge-simavr: %s does not fit the flash (byte at 0x%x, flash ends at 0x%x)\n", path, a, avr->flashend);
                    fclose(f);
                    return -1;
                }
                avr->flash[a] = (uint8_t)b;
            }
            if (base + addr < lowest) {
                lowest = base + addr;
            }
        } else if (type == 1) {
            break;
        } else if (type == 2 || type == 4) {
            unsigned hi;
            sscanf(line + 9, "%4x", &hi);
            base = type == 2 ? hi << 4 : hi << 16;
        }
        n++;
    }
    fclose(f);
    if (lowest == UINT32_MAX) {
        fprintf(stderr, "mcuforge-simavr: no data in %s\n", path);
        return -1;
    }
    *start = lowest;
    return 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* --auto-reset: sleep while the part, running at or above `boot` (the bootloader), is ahead of
 * real time since it entered there; checked once per simulated millisecond. */
typedef struct {
    uint32_t boot;
    int inside;
    avr_cycle_count_t cycle0, next;
    double t0;
} pacer_t;

static void pace(avr_t *avr, pacer_t *p)
{
    double ahead;
    if (avr->cycle < p->next) {
        return;
    }
    p->next = avr->cycle + avr->frequency / 1000u;
    if (avr->pc < p->boot) {
        p->inside = 0; /* the application runs as fast as the host allows */
        return;
    }
    if (!p->inside) {
        p->inside = 1;
        p->cycle0 = avr->cycle;
        p->t0 = now_s();
        return;
    }
    ahead = (double)(avr->cycle - p->cycle0) / avr->frequency - (now_s() - p->t0);
    if (ahead > 0.0) {
        usleep((useconds_t)(ahead * 1e6));
    }
}

int main(int argc, char **argv)
{
    static uart_pty_t pty;
    elf_firmware_t fw;
    avr_t *avr;
    char line[16];
    int state, i, have_start = 0;
    uint32_t start = 0, a, ram_used = 0;
    int have_elf = 0, auto_reset = 0;
    pacer_t pacer = {0};

    if (argc > 1 && strcmp(argv[1], "--auto-reset") == 0) {
        auto_reset = 1;
        argv++;
        argc--;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: %s [--auto-reset] MCU CLOCK_HZ FIRMWARE.elf|IMAGE.hex...\n", argv[0]);
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
        have_elf = 1;
    }
    if (have_start) {
        /* A bootloader: start there, as after an external reset (the Uno's DTR pulse), which
         * is what keeps Optiboot waiting for an upload instead of starting the application. */
        avr->pc = start;
        avr->codeend = avr->flashend;
        avr->data[MCUSR_ADDR] = EXTRF_BIT;
    }
    if (auto_reset && !have_start) {
        fprintf(stderr, "mcuforge-simavr: --auto-reset needs a bootloader .hex image to start in\n");
        return 2;
    }
    pacer.boot = start;

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
    /* The reset is released by the host's first byte (uart_pty's thread queues it; the part's
     * receiver takes it once enabled), or by the host going away. */
    while (auto_reset && pty.pty.out.read == pty.pty.out.write && pty.pty.buffer_len == 0) {
        struct timeval none = {0, 0};
        fd_set in;
        FD_ZERO(&in);
        FD_SET(0, &in);
        if (select(1, &in, NULL, NULL, &none) > 0 && fgets(line, sizeof line, stdin) == NULL) {
            _exit(0);
        }
        usleep(1000);
    }

    do {
        state = avr_run(avr);
        if (auto_reset) {
            pace(avr, &pacer);
        }
    } while (state != cpu_Done && state != cpu_Crashed);

    /* The last bytes the firmware sent (its EXIT reply) may still be in uart_pty's queue:
     * let its thread write them, then stay until the host has read them and closes our
     * stdin (a closed pty loses what the host has not read yet). */
    for (i = 0; i < 1000 && pty.pty.in.read != pty.pty.in.write; i++) {
        usleep(1000);
    }
    printf("cycles %llu\n", (unsigned long long)avr->cycle);
    if (have_elf) { /* (with HEX images the RAM layout is unknown) */
        for (a = avr->ioend + 1u + ram_used; a <= avr->ramend && avr->data[a] == STACK_PAINT; a++) {
        }
        printf("stack %u\n", (unsigned)(avr->ramend + 1u - a));
    }
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
