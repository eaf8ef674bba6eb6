/* Firmware entry of the Makefile project. The runtime is a library without main(): another
 * build system calls the same two functions from its own entry point (an Arduino sketch:
 * mf_runtime_start() in setup(), mf_runtime_serve_once() in loop()). */
#include "mf_runtime.h"

int main(void)
{
    mf_runtime_start();
    for (;;) {
        mf_runtime_serve_once();
    }
}
