"""``mcuforge flash``: put a built project on the board (the board's emulator by default) and check its hello."""
from __future__ import annotations

import time

from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("flash", help="flash a built project (QEMU for emulated boards) and check the board's hello",
                       description=__doc__)
    p.add_argument("project", help="folder written by 'mcuforge generate' and built by 'mcuforge build'")
    p.add_argument("--method", default=None, help="flash method (default: the board's first; see 'mcuforge boards')")
    p.add_argument("--port", default=None, help="serial port or pyserial URL for the link after flashing")
    p.add_argument("--dry-run", action="store_true", help="print the flashing command instead of running it")
    p.add_argument("--keep", action="store_true",
                   help="keep an emulated board running and print its pyserial URL until Ctrl-C")
    _common.add_json(p, "the board's hello")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..boards import load_board
    from ..codegen.generate import read_manifest
    from ..flash import flash_command, open_session
    from ..link.client import Link

    manifest = read_manifest(args.project)
    board = load_board(manifest["board"])
    if args.dry_run:
        print(" ".join(flash_command(args.project, board, method=args.method)))
        return 0
    session = open_session(args.project, board=board, method=args.method, port=args.port)
    try:
        link = Link(session.url)
        hello = link.hello()
        link.expect_firmware(manifest["firmware_hash"])
        info = hello if isinstance(hello, dict) else getattr(hello, "__dict__", {"hello": str(hello)})
        print(f"flashed {manifest['model_name']} to {board.name}; the board says:")
        for k, v in info.items():
            print(f"  {k}: {v}")
        _common.write_json(args.json, info)
        if args.keep:
            link.close()
            print(f"board running; connect to {session.url} (Ctrl-C to stop)", flush=True)
            while True:
                time.sleep(1)
        link.close()
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
    return 0
