"""What the firmware's cycle counts mean.

``dwt``: hardware core cycles. ``systick-icount``: SysTick ticks under QEMU with a fixed
``-icount shift=N``, where each guest instruction advances the virtual clock by 2^N ns,
so ticks * 1e9 / (clock_hz * 2^N) = emulated instructions — never a hardware timing.
``avr-timer1``: AVR clock cycles (Timer1 at the CPU clock); under simavr, which is
cycle-accurate, they are *simulated cycles* of the part.
"""
from __future__ import annotations

from dataclasses import dataclass

from .protocol import Hello


HARDWARE_CYCLE_COUNTERS = ("dwt", "avr-timer1")  # count CPU clock cycles


@dataclass(frozen=True)
class CycleScale:
    counter: str
    clock_hz: int
    icount_shift: int | None
    simulated: bool = False

    @property
    def unit(self) -> str:
        if self.counter in HARDWARE_CYCLE_COUNTERS:
            return "simulated-cycles" if self.simulated else "cycles"
        if self.counter == "systick-icount" and self.icount_shift is not None:
            return "emulated-instructions"
        return "systick-ticks"

    @property
    def emulated(self) -> bool:
        """Not hardware timing: emulated instructions, simulated cycles, raw ticks."""
        return self.unit != "cycles"

    def milliseconds(self, ticks: int) -> float | None:
        """Time at the part's clock, for counts that are clock cycles (simulated or not)."""
        return ticks * 1e3 / self.clock_hz if self.counter in HARDWARE_CYCLE_COUNTERS else None

    def convert(self, ticks: int) -> float:
        """Counter ticks -> ``unit``."""
        if self.unit == "emulated-instructions":
            return ticks * 1e9 / (self.clock_hz * 2 ** self.icount_shift)
        return float(ticks)


def cycle_scale(hello: Hello, icount_shift: int | None, simulated: bool = False) -> CycleScale:
    return CycleScale(hello.cycle_counter, hello.clock_hz, icount_shift, simulated)
