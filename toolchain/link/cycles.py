"""What the firmware's cycle counts mean.

``dwt``: hardware core cycles. ``systick-icount``: SysTick ticks under QEMU with a fixed
``-icount shift=N``, where each guest instruction advances the virtual clock by 2^N ns,
so ticks * 1e9 / (clock_hz * 2^N) = emulated instructions — never a hardware timing.
"""
from __future__ import annotations

from dataclasses import dataclass

from .protocol import Hello


@dataclass(frozen=True)
class CycleScale:
    counter: str
    clock_hz: int
    icount_shift: int | None

    @property
    def unit(self) -> str:
        if self.counter == "dwt":
            return "cycles"
        if self.counter == "systick-icount" and self.icount_shift is not None:
            return "emulated-instructions"
        return "systick-ticks"

    @property
    def emulated(self) -> bool:
        return self.counter != "dwt"

    def convert(self, ticks: int) -> float:
        """Counter ticks -> ``unit``."""
        if self.unit == "emulated-instructions":
            return ticks * 1e9 / (self.clock_hz * 2 ** self.icount_shift)
        return float(ticks)


def cycle_scale(hello: Hello, icount_shift: int | None) -> CycleScale:
    return CycleScale(hello.cycle_counter, hello.clock_hz, icount_shift)
