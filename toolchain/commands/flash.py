"""``mcuforge flash``: put a built project on the board (the board's emulator by default) and check its hello.

With ``--port URL`` and no ``--method``, nothing is flashed: the board already runs the project's firmware
at URL (a real board, or one kept by ``--listen``) and only its hello is checked. ``--listen`` keeps an
emulated board running and prints its URL (``listening on socket://...``) until Ctrl-C, so the commands
that take ``--port`` (validate, profile, learn) can use it as they would use a real board."""
from __future__ import annotations

import shlex
import time

import numpy as np

from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("flash", help="flash a built project (QEMU for emulated boards) and check the board's hello",
                       description=_common.doc(__doc__))
    p.add_argument("project", help="folder written by 'mcuforge generate' and built by 'mcuforge build'")
    p.add_argument("--method", default=None, help="flash method (default: the board's first; see 'mcuforge boards')")
    p.add_argument("--port", default=None,
                   help="serial port or pyserial URL of the board's link; without --method: a board that "
                        "already runs this firmware (nothing is flashed)")
    p.add_argument("--dry-run", action="store_true", help="print the flashing command instead of running it")
    p.add_argument("--retries", type=_common.natural_int, default=0,
                   help="run a failing flashing tool up to N more times, 1 s apart (a probe or board being attached)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds one run of the flashing tool may take (default 120)")
    p.add_argument("--listen", "--keep", dest="listen", action="store_true",
                   help="keep the board running and print its pyserial URL until Ctrl-C")
    _common.add_json(p, "the board's hello")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..boards import EMULATOR_KINDS, load_board
    from ..project import read_manifest
    from ..flash import get_backend, open_session

    from ..flash import check_method

    manifest = read_manifest(args.project)
    board = load_board(manifest["board"])
    method = check_method(board, args.method, args.port)  # None: attach to the board at --port
    if args.dry_run and method is None:
        print(f"nothing to flash: the board at {args.port} already runs the firmware")
        return 0
    if args.dry_run:
        if method == "qemu":
            from ..flash import qemu_argv, resolve_elf

            print(shlex.join(qemu_argv(resolve_elf(args.project), board)))
        elif method == "simavr":
            from ..flash import resolve_elf, simavr_argv

            print(shlex.join(simavr_argv([resolve_elf(args.project)], board)))
        else:
            print(shlex.join(get_backend(method, board).flash(args.project, board, port=args.port, dry_run=True)))
        return 0
    options = {"port": args.port} if args.port else {}
    if method is not None and method not in EMULATOR_KINDS:
        options.update(retries=args.retries, timeout=args.timeout)
    session = open_session(args.project, board=board, method=method, **options)
    try:
        link = session.link(expected_hash=manifest["firmware_hash"])
        hello = link.hello()
        info = _hello_dict(hello)
        done = "flashed" if method is not None else "found"
        print(f"{done} {manifest['model_name']} on {board.name}; the board says:")
        for k, v in info.items():
            print(f"  {k.replace('_', ' ')}: {_readable(v)}")
        _common.write_json(args.json, info)
        if args.listen:
            link.close()
            print(f"listening on {session.url} (Ctrl-C to stop)", flush=True)
            while True:
                time.sleep(1)
        link.close()
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
    return 0


def _hello_dict(hello) -> dict:
    """The hello as plain JSON values."""
    def tensors(ts):
        return [dict(dtype=np.dtype(t.dtype).name, elements=t.count, bytes=t.bytes) for t in ts]

    return dict(board=hello.board, model_name=hello.model_name, firmware_hash=hello.firmware_hash,
                protocol_version=hello.version, clock_hz=hello.clock_hz, arena_bytes=hello.arena_bytes,
                layers=hello.num_layers, cycle_counter=hello.cycle_counter, max_payload=hello.max_payload,
                semihosting=hello.semihosting, profiling=hello.profiling,
                inputs=tensors(hello.inputs), outputs=tensors(hello.outputs),
                message_types=[f"0x{m:02x}" for m in hello.message_types])


def _readable(value) -> str:
    """One hello value as a person reads it: 'int8 x 490 (490 B)', '0x01 0x02', '168,000,000'."""
    if isinstance(value, list):
        return ", ".join(_readable(v) for v in value) or "none"
    if isinstance(value, dict) and "dtype" in value:
        return f"{value['dtype']} x {value['elements']:,} ({value['bytes']:,} B)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
