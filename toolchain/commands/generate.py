"""``mcuforge generate``: write a self-contained C99 firmware project for a model and a board, for
one build system: --format make (the default: main.c + a plain Makefile), platformio
(platformio.ini, the library under src/mcuforge/), arduino (an Arduino library, .zip, with an
example sketch), micropython (a MicroPython user C module)."""
from __future__ import annotations

from . import _common

# The project formats (mcuforge.project.exporters, not imported here: --help stays fast; a test
# checks that this list is the exporters').
FORMATS = ("make", "platformio", "arduino", "micropython")


def add_parser(sub) -> None:
    p = sub.add_parser("generate", help="model -> C99 firmware project (weights in flash, one planned arena)",
                       description=_common.doc(__doc__))
    p.add_argument("model", help="int8 .tflite model")
    _common.add_board(p)
    p.add_argument("-o", "--out", required=True, help="project folder to write")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty folder that is not an mcuforge project (only mcuforge's own files)")
    p.add_argument("--format", dest="fmt", choices=FORMATS, default=FORMATS[0],
                   help=f"project format: {', '.join(FORMATS)} (default {FORMATS[0]})")
    p.add_argument("--micropython-dir", default=None, metavar="DIR",
                   help="--format micropython: also build MicroPython's firmware with the module from this checkout")
    p.add_argument("--micropython-board", default=None, metavar="BOARD",
                   help="with --micropython-dir: the port's board, e.g. MPS2_AN385 (ports/PORT/boards/)")
    p.add_argument("--micropython-port", default="qemu", metavar="PORT",
                   help="with --micropython-dir: the port (default qemu)")
    p.add_argument("--audio", action="store_true",
                   help="keyword RNN models (.rnn.keras): take int16 audio through the on-device log-mel front end, "
                        "frame by frame, instead of frames (refused where the front end's RAM does not fit)")
    p.add_argument("--name", default=None, help="model name in the generated code (default: the file name)")
    _common.add_json(p, "the project summary")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import UsageError
    from ..project import exporter, generate

    if args.micropython_dir is None and (args.micropython_board or args.micropython_port != "qemu"):
        raise UsageError("--micropython-board and --micropython-port go with --micropython-dir (and --format "
                         "micropython): without it the firmware is not built")
    if args.micropython_dir is not None:  # checked before anything is written
        from ..project.exporters.micropython import check_checkout

        if args.fmt != "micropython" or not args.micropython_board:
            raise UsageError("--micropython-dir goes with --format micropython and --micropython-board")
        check_checkout(args.micropython_dir, args.micropython_port)
    project = generate(args.model, args.board, args.out, name=args.name, force=args.force, fmt=args.fmt,
                       audio=args.audio)
    b = project.budget
    print(f"wrote {project.path}/ for {project.board.name}: {len(project.layers)} layers, {project.macs:,} MACs")
    print(f"  weights {b.weights_bytes:,} B (flash), arena {project.plan.arena_bytes:,} B "
          f"({project.plan.naive_bytes():,} B without reuse), firmware {project.firmware_hash}")
    in_place = project.plan.in_place_layers(project.graph, project.layers)
    if in_place:
        print(f"  in place (output over its input): layers {', '.join(map(str, in_place))}")
    print(f"  next: {exporter(args.fmt).BUILD_COMMAND.format(path=project.path)}")
    firmware = None
    if args.micropython_dir is not None:
        from ..project.exporters.micropython import build_firmware

        firmware = build_firmware(args.micropython_dir, project.path, args.micropython_board, args.micropython_port)
        print(f"  MicroPython firmware {firmware}")
    _common.write_json(args.json, dict(project=str(project.path), board=project.board.name, layers=len(project.layers),
                                       micropython_firmware=str(firmware) if firmware else None, macs=project.macs, arena_bytes=project.plan.arena_bytes,
                                       weights_bytes=b.weights_bytes, firmware_hash=project.firmware_hash,
                                       model_hash=project.model_hash, in_place_layers=in_place))
    return 0
