"""Flash backend interface: put an ELF on a board (real or emulated) and hand back a
Session whose ``url`` is the pyserial URL of the board's link UART."""
from __future__ import annotations

import abc
from pathlib import Path

from ..boards import Board


class FlashError(RuntimeError):
    pass


def resolve_elf(target: str | Path) -> Path:
    """A firmware ELF, or a project directory holding ``build/firmware.elf`` (a PlatformIO
    project: ``.pio/build/ENV/firmware.elf``)."""
    p = Path(target)
    if p.is_dir():
        elf = p / "build" / "firmware.elf"
        if (p / "platformio.ini").is_file():
            built = sorted(p.glob(".pio/build/*/firmware.elf"))
            if len(built) == 1:
                return built[0]
            raise FlashError(f"{p} is a PlatformIO project " + (
                "with no .pio/build/*/firmware.elf: build it first (pio run)" if not built else
                f"built for several environments ({', '.join(e.parent.name for e in built)}): name the ELF"))
        if not elf.is_file():
            from ..project.exporters import refuse_other_format

            # an Arduino library or MicroPython module holds no firmware of its own
            refuse_other_format(p, ("make", "platformio"), "holds no firmware to flash",
                                then=" and flash what that builds")
            raise FlashError(f"{p} has no build/firmware.elf: build the project first")
        return elf
    if not p.is_file():
        raise FlashError(f"firmware not found: {p}")
    with open(p, "rb") as f:
        if f.read(4) != b"\x7fELF":
            raise FlashError(f"{p} is not an ELF file")
    return p


class Session(abc.ABC):
    """A running board. ``url`` is its link UART; ``link()`` opens a Link and waits for
    the firmware's HELLO. Close it (or use ``with``) to release the board."""

    url: str
    icount_shift: int | None = None
    simulated: bool = False  # a cycle-accurate simulator (simavr): its cycles are simulated
    boot_timeout: float = 10.0  # how long link() waits for the boot HELLO before asking for one

    def __init__(self) -> None:
        self._links: list = []  # Links opened through link(), closed with the session

    def resume(self) -> None:
        """Let the board run once the host is attached (emulators start paused)."""

    def link(self, **kwargs):
        """Open a Link on ``url``, let the board run, wait for its HELLO. Keyword
        arguments go to ``Link`` (plus ``boot_timeout``)."""
        from ..link import Link

        kwargs.setdefault("icount_shift", self.icount_shift)
        kwargs.setdefault("simulated", self.simulated)
        boot_timeout = kwargs.pop("boot_timeout", self.boot_timeout)
        link = Link(self.url, **kwargs)
        try:
            self.resume()
            link.connect(boot_timeout=boot_timeout)
        except BaseException:
            link.close()
            raise
        self._links.append(link)
        return link

    def close(self) -> None:
        for link in self._links:
            link.close()
        self._links.clear()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FlashBackend(abc.ABC):
    name: str

    @abc.abstractmethod
    def flash(self, elf: str | Path, board: Board, **options) -> Session:
        """Program ``elf`` onto ``board`` and return the running session."""
