"""``mcuforge build``: compile a generated project and report flash and RAM read from the ELF."""
from __future__ import annotations

from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="compile a generated project; flash/RAM use from the ELF", description=_common.doc(__doc__))
    p.add_argument("project", help="folder written by 'mcuforge generate'")
    _common.add_json(p, "the size report")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..build.make import build
    from ..project import read_manifest

    manifest = read_manifest(args.project)
    r = build(args.project)
    d = {k: int(getattr(r, k)) for k in ("text", "rodata", "data", "bss", "flash_bytes", "ram_bytes", "arena", "stack")}
    print(f"built {r.elf}")
    rows = [["text (code)", d["text"]], ["rodata (weights, tables)", d["rodata"]], ["data", d["data"]],
            ["bss (arena, buffers)", d["bss"]], ["  of which arena", d["arena"]], ["stack reserve", d["stack"]],
            ["flash total", d["flash_bytes"]], ["RAM total", d["ram_bytes"]]]
    _common.table(rows, ["", "bytes"])
    _common.write_json(args.json, dict(d, elf=str(r.elf), board=manifest["board"]))
    return 0
