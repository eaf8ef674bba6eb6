"""``mcuforge.json``, the project's manifest: board, format, hashes, arena, layers, input/output
quantization, and the files the project owns (regenerating replaces exactly those)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .. import __version__
from ..graph.ir import Graph
from ..treehash import tree_sha256

MANIFEST = "mcuforge.json"
UNHASHED_DIRS = ("build/", ".pio/")  # build outputs inside a project: never part of the firmware hash


def tensor_info(graph: Graph, name: str) -> dict:
    t = graph.tensors[name]
    info = dict(name=name, shape=list(t.shape), dtype=t.dtype, bytes=t.nbytes)
    if t.quant is not None:
        info.update(scale=float(t.quant.scale.reshape(-1)[0]), zero_point=int(t.quant.zero_point.reshape(-1)[0]))
    return info


def hash_tree(root: Path, skip: set[str]) -> str:
    """Hash of every file under ``root`` (paths and bytes) but ``skip`` and build outputs."""
    return tree_sha256(root, skip=lambda rel: rel in skip or rel.startswith(UNHASHED_DIRS))[:16]


def model_hash(graph: Graph, model_c: str) -> str:
    return (graph.source_hash or hashlib.sha256(model_c.encode()).hexdigest())[:16]


def make_manifest(*, fmt: str, model_name: str, model_hash: str, firmware_hash: str, board, graph: Graph, meta,
                  plan, budget, library, files: list[str]) -> dict:
    src = library.model
    return dict(
        generator=f"mcuforge {__version__}",
        format=fmt,
        model_name=model_name,
        model_hash=model_hash,
        firmware_hash=firmware_hash,
        board=board.name,
        arena_bytes=plan.arena_bytes,
        naive_arena_bytes=plan.naive_bytes(),
        budget=budget.as_dict(),
        macs=src.macs,
        extensions=library.extensions,
        labels=list(meta["labels"]) if meta and meta.get("labels") else None,
        inputs=[tensor_info(graph, n) for n in graph.inputs],
        outputs=[tensor_info(graph, n) for n in graph.outputs],
        layers=[dict(index=l.index, op_index=l.op_index, op=l.kind, name=l.name, macs=l.macs,
                     inputs=[list(graph.tensors[n].shape) for n in l.inputs if not graph.tensors[n].is_const],
                     output=list(graph.tensors[l.output].shape)) for l in src.layers],
        files=files,  # what this project owns: regenerating replaces exactly these
    )


def write_manifest(project_dir: Path, manifest: dict) -> None:
    (project_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default))


def read_manifest(project_dir) -> dict:
    """The manifest of the project ``mcuforge generate`` wrote into ``project_dir``."""
    p = Path(project_dir) / MANIFEST
    if not p.exists():
        raise FileNotFoundError(f"{project_dir}: not a generated mcuforge project (no {MANIFEST}); "
                                "run 'mcuforge generate' first")
    return json.loads(p.read_text())


def find_manifest(project_dir: Path) -> dict | None:
    """The manifest of an mcuforge project in ``project_dir``, or None when there is none (no
    file, a link, unreadable, or not written by mcuforge)."""
    p = project_dir / MANIFEST
    if not p.is_file() or p.is_symlink():
        return None
    try:
        manifest = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(manifest, dict) or not str(manifest.get("generator", "")).startswith("mcuforge"):
        return None
    return manifest


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o))
