"""``mcuforge generate``: write a self-contained C99 firmware project for a model and a board."""
from __future__ import annotations

from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("generate", help="model -> C99 firmware project (weights in flash, one planned arena)",
                       description=_common.doc(__doc__))
    p.add_argument("model", help="int8 .tflite model")
    _common.add_board(p)
    p.add_argument("-o", "--out", required=True, help="project folder to write")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty folder that is not an mcuforge project (only mcuforge's own files)")
    p.add_argument("--name", default=None, help="model name in the generated code (default: the file name)")
    _common.add_json(p, "the project summary")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..project import generate

    project = generate(args.model, args.board, args.out, name=args.name, force=args.force)
    b = project.budget
    print(f"wrote {project.path}/ for {project.board.name}: {len(project.layers)} layers, {project.macs:,} MACs")
    print(f"  weights {b.weights_bytes:,} B (flash), arena {project.plan.arena_bytes:,} B "
          f"({project.plan.naive_bytes():,} B without reuse), firmware {project.firmware_hash}")
    print(f"  next: mcuforge build {project.path}")
    _common.write_json(args.json, dict(project=str(project.path), board=project.board.name, layers=len(project.layers),
                                       macs=project.macs, arena_bytes=project.plan.arena_bytes,
                                       weights_bytes=b.weights_bytes, firmware_hash=project.firmware_hash,
                                       model_hash=project.model_hash))
    return 0
