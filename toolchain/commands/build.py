"""``mcuforge build``: compile a generated project and report flash and RAM read from the ELF."""
from __future__ import annotations

from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="compile a generated project; flash/RAM use from the ELF", description=__doc__)
    p.add_argument("project", help="folder written by 'mcuforge generate'")
    _common.add_json(p, "the size report")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..build.make import build
    from ..codegen.generate import read_manifest

    manifest = read_manifest(args.project)
    r = build(args.project)
    d = r.as_dict()
    print(f"built {r.elf}")
    _common.table([[k, v] for k, v in d.items() if isinstance(v, int)], ["section", "bytes"])
    print(f"  arena {manifest['arena_bytes']:,} B of RAM {r.ram_bytes:,} B; flash {r.flash_bytes:,} B")
    _common.write_json(args.json, d)
    return 0
