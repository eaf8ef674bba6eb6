"""``mcuforge ports``: the serial ports, their USB VID:PID, and which are a board's (an ST-LINK's
virtual COM port, an Arduino's USB serial). ``--port auto`` picks the one board listed here."""
from __future__ import annotations

from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("ports", help="list serial ports with USB VID:PID; recognises ST-LINK and Arduino boards",
                       description=_common.doc(__doc__))
    _common.add_json(p, "the port list")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..flash.ports import list_ports

    ports = list_ports()
    if not ports:
        print("no serial ports found")
    else:
        _common.table([[p.device, p.usb_id, p.known or "-", p.description or "-"] for p in ports],
                      ["port", "USB VID:PID", "board", "description"])
    _common.write_json(args.json, [dict(device=p.device, vid=p.vid, pid=p.pid, usb_id=p.usb_id, board=p.known,
                                        family=p.family, description=p.description,
                                        serial_number=p.serial_number) for p in ports])
    return 0
