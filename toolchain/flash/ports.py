"""Serial ports and the boards behind them: ``list_ports()`` names each port's USB VID:PID and
recognises the USB bridges of the boards mcuforge knows (an ST-LINK's virtual COM port on a
Nucleo or Discovery board, an Arduino's USB serial chip); ``auto_port()`` picks the one board
attached, for ``--port auto``. The ports come from pyserial's ``list_ports.comports()``."""
from __future__ import annotations

from dataclasses import dataclass

from ..boards import Board, load_board
from .base import FlashError

AUTO = "auto"

# USB bridges by VID:PID: what each is, and the families of boards it sits on (a CH340 or FT232R
# is a Nano's bridge and a plain USB serial adapter too).
STLINK, ARDUINO, ADAPTER = "stlink", "arduino", "adapter"
KNOWN_USB: dict[tuple[int, int], tuple[str, tuple[str, ...]]] = {
    (0x0483, 0x374B): ("ST-LINK/V2-1 virtual COM port", (STLINK,)),  # Nucleo-64 (F401RE, F446RE, L476RG), F746G-DISCO
    (0x0483, 0x3752): ("ST-LINK/V2-1 virtual COM port", (STLINK,)),
    (0x0483, 0x374E): ("ST-LINK/V3 virtual COM port", (STLINK,)),
    (0x0483, 0x374F): ("ST-LINK/V3 virtual COM port", (STLINK,)),
    (0x0483, 0x3753): ("ST-LINK/V3 virtual COM port", (STLINK,)),
    (0x2341, 0x0043): ("Arduino Uno R3", (ARDUINO,)),
    (0x2341, 0x0001): ("Arduino Uno", (ARDUINO,)),
    (0x2A03, 0x0043): ("Arduino Uno R3 (arduino.org)", (ARDUINO,)),
    (0x2341, 0x0010): ("Arduino Mega 2560", (ARDUINO,)),
    (0x2341, 0x0042): ("Arduino Mega 2560 R3", (ARDUINO,)),
    (0x0403, 0x6001): ("FTDI FT232R (Arduino Nano, or a USB serial adapter)", (ARDUINO, ADAPTER)),
    (0x1A86, 0x7523): ("CH340 USB serial (Arduino Nano/Uno clone, or an adapter)", (ARDUINO, ADAPTER)),
    (0x10C4, 0xEA60): ("CP210x USB serial adapter", (ADAPTER,)),
    (0x067B, 0x2303): ("PL2303 USB serial adapter", (ADAPTER,)),
}
# What --port auto looks for, by the board's board.json "usb_serial" (default: by arch).
WHAT = {STLINK: "ST-LINK virtual COM port", ARDUINO: "Arduino USB serial port", ADAPTER: "USB serial adapter"}


@dataclass(frozen=True)
class Port:
    device: str
    vid: int | None
    pid: int | None
    description: str
    serial_number: str | None
    known: str | None  # what the USB bridge is, e.g. "ST-LINK/V2-1 virtual COM port"
    families: tuple[str, ...]  # of STLINK, ARDUINO, ADAPTER; () for an unknown bridge

    @property
    def family(self) -> str | None:
        return self.families[0] if self.families else None

    @property
    def usb_id(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}" if self.vid is not None and self.pid is not None else "-"


def _port(info) -> Port:
    known, families = KNOWN_USB.get((info.vid, info.pid), (None, ()))
    return Port(device=info.device, vid=info.vid, pid=info.pid, description=info.description or "",
                serial_number=info.serial_number, known=known, families=families)


def list_ports(comports=None) -> list[Port]:
    """Every serial port, sorted by device name (``comports``: pyserial's ``comports()`` result;
    default: ask pyserial)."""
    if comports is None:
        from serial.tools import list_ports as pyserial_ports

        comports = pyserial_ports.comports()
    return sorted((_port(p) for p in comports), key=lambda p: p.device)


def board_family(board: Board) -> str:
    """The USB bridge a board's link is reached through: its board.json ``usb_serial`` (the Blue
    Pill: a USB serial adapter), else the Arduino's for the AVR boards and an ST-LINK for the rest."""
    return board.usb_serial or (ARDUINO if board.arch == "avr" else STLINK)


def auto_port(board: Board | str, comports=None) -> str:
    """The one port a board of ``board``'s family is attached to; a FlashError (exit 5) names the
    ports found when there is none, or several to choose from with --port."""
    board = load_board(board)
    family = board_family(board)
    ports = list_ports(comports)
    matches = [p for p in ports if family in p.families]
    if len(matches) == 1:
        return matches[0].device
    seen = "; ".join(f"{p.device} ({p.usb_id} {p.known or p.description})" for p in ports) or "none"
    what = WHAT[family]
    if not matches:
        raise FlashError(f"--port auto: no {what} found for board '{board.name}' (serial ports: {seen}); "
                         f"plug the board in or name its port with --port")
    raise FlashError(f"--port auto: {len(matches)} boards attached ({', '.join(p.device for p in matches)}): "
                     f"name one with --port")


def resolve_port(port: str | None, board: Board | str, comports=None) -> str | None:
    """``port`` as given, or the attached board's port for ``auto``."""
    return auto_port(board, comports) if port == AUTO else port
