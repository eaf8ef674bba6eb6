"""``mcuforge generate``: model file + board -> a self-contained firmware project that builds with ``make``.

DIR/
  Makefile           plain make, the board's compiler flags
  mcuforge.json      manifest: board, hashes, arena, layers, input/output quantization, the files it owns
  mf_build_id.h      firmware hash the board announces in its hello
  model/model.{c,h}  the generated model
  firmware/, board/  runtime, link, kernels and board support copied from mcuforge
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from .. import ops as op_registry
from ..boards import load_board
from ..build.project import copy_platform, project_include_dirs, write_makefile
from ..graph.ir import Graph
from ..model.loader import load
from ..plan.arena import ArenaPlan, plan_arena
from ..plan.budget import Budget, check_fits
from .model_c import Layer, c_ident, render

MANIFEST = "mcuforge.json"
STAGING_PREFIX = ".mcuforge-staging-"  # a generation in progress (or one killed half-way)


@dataclass
class Project:
    path: Path
    board: object
    graph: Graph
    plan: ArenaPlan
    budget: Budget
    layers: list[Layer]
    macs: int
    model_hash: str
    firmware_hash: str

    @property
    def manifest(self) -> dict:
        return json.loads((self.path / MANIFEST).read_text())


def _tensor_info(graph: Graph, name: str) -> dict:
    t = graph.tensors[name]
    info = dict(name=name, shape=list(t.shape), dtype=t.dtype, bytes=t.nbytes)
    if t.quant is not None:
        info.update(scale=float(t.quant.scale.reshape(-1)[0]), zero_point=int(t.quant.zero_point.reshape(-1)[0]))
    return info


def _hash_tree(root: Path, skip: set[str]) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel not in skip and not rel.startswith("build/"):
            h.update(rel.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def device_extensions(graph: Graph, meta: dict | None) -> tuple[list[str], dict[str, str]]:
    """Firmware extensions and their generated config headers for a model with device-side parts:
    a BNN keyword spotter gets the audio front end and the on-device learning head."""
    if not meta:
        return [], {}
    files: dict[str, str] = {}
    exts: list[str] = []
    if meta.get("feature_config") is not None:
        from ..data.features import FeatureConfig
        from ..frontend.config import render_frontend_config

        cfg = meta["feature_config"]
        cfg = cfg if isinstance(cfg, FeatureConfig) else FeatureConfig.from_dict(cfg)
        t = graph.tensors[graph.inputs[0]]
        files["mf_frontend_config.h"] = render_frontend_config(cfg, t.quant.s, t.quant.zp)
        exts.append("frontend")
    if meta.get("head_W") is not None:
        from ..learning.config import render_head_config

        files["mf_head_config.h"] = render_head_config(
            np.asarray(meta["head_W"], np.float32), np.asarray(meta["head_b"], np.float32),
            int(meta.get("max_classes", len(meta["labels"]) + 8)), meta.get("learning_defaults") or {})
        exts.append("learning")
    return exts, files


def generate(model, board: str, out_dir, name: str | None = None, force: bool = False) -> Project:
    """Write the project for ``model`` (a Model, or anything ``mcuforge.model.load`` takes) on
    ``board`` into ``out_dir``.

    ``out_dir`` must be new, empty or a project mcuforge wrote (regenerating removes the files of
    the old project it no longer writes); any other folder is refused unless ``force``, and then
    only mcuforge's own files are added. The files are written into a staging folder first, so
    the firmware hash covers exactly them and nothing is touched if generation fails."""
    loaded = load(model)
    graph, meta = loaded.graph, loaded.meta
    board_obj = load_board(board)
    model_name = c_ident(name or graph.name or "model")
    op_registry.select_variants(graph, board_obj)  # kernels for the board's core, before the plan
    plan = plan_arena(graph)
    budget = check_fits(graph, plan, board_obj)  # before any C is written

    out = Path(out_dir)
    previous = check_out_dir(out, force)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))  # same file system: renames
    except OSError as e:
        raise OutputDirError(f"-o {out}: cannot write there ({e.strerror})") from None
    try:
        src, extensions, model_hash, firmware_hash = _write_project(stage, graph, meta, plan, board_obj, model_name)
        files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
        manifest = dict(
            generator=f"mcuforge {__version__}",
            model_name=model_name,
            model_hash=model_hash,
            firmware_hash=firmware_hash,
            board=board_obj.name,
            arena_bytes=plan.arena_bytes,
            naive_arena_bytes=plan.naive_bytes(),
            budget=budget.as_dict(),
            macs=src.macs,
            extensions=extensions,
            labels=list(meta["labels"]) if meta and meta.get("labels") else None,
            inputs=[_tensor_info(graph, n) for n in graph.inputs],
            outputs=[_tensor_info(graph, n) for n in graph.outputs],
            layers=[dict(index=l.index, op_index=l.op_index, op=l.kind, name=l.name, macs=l.macs,
                         inputs=[list(graph.tensors[n].shape) for n in l.inputs if not graph.tensors[n].is_const],
                         output=list(graph.tensors[l.output].shape)) for l in src.layers],
            files=files,  # what this project owns: regenerating replaces exactly these
        )
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default))
        _install(stage, out, files + [MANIFEST], stale=_owned_files(out, previous))
    except BaseException:
        if created:
            shutil.rmtree(stage, ignore_errors=True)
            with contextlib.suppress(OSError):
                out.rmdir()  # only if still empty
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return Project(out, board_obj, graph, plan, budget, src.layers, src.macs, model_hash, firmware_hash)


def _write_project(out: Path, graph: Graph, meta, plan: ArenaPlan, board_obj, model_name: str):
    """Every file of the project, into ``out`` (a fresh staging folder)."""
    (out / "model").mkdir(parents=True, exist_ok=True)
    src = render(graph, plan, model_name)
    (out / "model" / "model.c").write_text(src.model_c)
    (out / "model" / "model.h").write_text(src.model_h)
    extensions, extra_files = device_extensions(graph, meta)
    for fname, text in extra_files.items():
        (out / fname).write_text(text)
    sources = copy_platform(board_obj, out, extensions=extensions)
    write_makefile(out, board_obj, sources + ["model/model.c"], project_include_dirs(board_obj, extensions))

    model_hash = _model_hash(graph, src.model_c)
    firmware_hash = _hash_tree(out, skip={"mf_build_id.h", MANIFEST})
    (out / "mf_build_id.h").write_text(
        "/* Generated by mcuforge: identifies this firmware in the board's hello. */\n"
        "#ifndef MF_BUILD_ID_H\n#define MF_BUILD_ID_H\n"
        f'#define MF_FIRMWARE_HASH "{firmware_hash}"\n#define MF_MODEL_HASH "{model_hash}"\n#endif\n'
    )
    return src, extensions, model_hash, firmware_hash


class OutputDirError(ValueError):
    """``-o`` names a place ``generate`` will not write into."""


def check_out_dir(out: Path, force: bool = False) -> dict | None:
    """Refuse an output folder that is not ours to fill; returns the manifest of the mcuforge
    project already there (None for a new or empty folder)."""
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"-o {out}: is a file, not a folder; name a new or empty folder for the project")
    resolved = out.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise OutputDirError(f"-o {out}: refusing to write a project into {resolved} itself; "
                             "name a new folder for it, e.g. -o fw/")
    if not out.is_dir():
        return None
    manifest = _project_manifest(out)
    for p in out.glob(STAGING_PREFIX + "*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)  # left by a generation that was killed
    if manifest is None and any(out.iterdir()) and not force:
        raise OutputDirError(f"-o {out}: the folder is not empty and not an mcuforge project (no {MANIFEST}); "
                             "name a new or empty folder, or add --force to write mcuforge's files beside yours")
    return manifest


def _project_manifest(out: Path) -> dict | None:
    p = out / MANIFEST
    if not p.is_file() or p.is_symlink():
        return None
    try:
        manifest = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(manifest, dict) or not str(manifest.get("generator", "")).startswith("mcuforge"):
        return None
    return manifest


def _owned_files(out: Path, manifest: dict | None) -> list[str]:
    """The files an earlier generation listed as its own (paths inside ``out`` only)."""
    files = (manifest or {}).get("files") or []
    return [f for f in files if isinstance(f, str) and _inside(out, f)]


def _inside(out: Path, rel: str) -> bool:
    parts = Path(rel).parts
    return bool(parts) and not Path(rel).is_absolute() and ".." not in parts


def _check_no_links(out: Path, rel: str) -> None:
    """Writing ``out/rel`` must not leave ``out``: no folder on the way may be a symbolic link."""
    p = out
    for part in Path(rel).parts[:-1]:
        p = p / part
        if p.is_symlink() or (p.exists() and not p.is_dir()):
            raise OutputDirError(f"{p} is {'a symbolic link' if p.is_symlink() else 'a file'} where the project "
                                 "needs a folder; mcuforge writes only inside the folder you named")
    if (out / rel).is_dir() and not (out / rel).is_symlink():
        raise OutputDirError(f"{out / rel} is a folder where the project writes a file")


def _install(stage: Path, out: Path, files: list[str], stale: list[str]) -> None:
    """Move the staged files into ``out`` and remove the old project's files no longer written."""
    for rel in files + stale:
        _check_no_links(out, rel)  # all checked before the first file moves
    for rel in files:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / rel, out / rel)
    keep = set(files)
    for rel in stale:
        if rel not in keep and ((out / rel).is_file() or (out / rel).is_symlink()):
            (out / rel).unlink()
            parent = (out / rel).parent
            while parent != out and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o))


def _model_hash(graph: Graph, model_c: str) -> str:
    return (graph.source_hash or hashlib.sha256(model_c.encode()).hexdigest())[:16]


def load_project(project_dir, model) -> Project:
    """The project ``generate`` wrote into ``project_dir`` for ``model``, as it is on disk (not
    regenerated: what is validated is the firmware there). Refused when it was generated from
    another model."""
    from ..errors import UsageError

    manifest = read_manifest(project_dir)
    graph = load(model).graph
    board_obj = load_board(manifest["board"])
    op_registry.select_variants(graph, board_obj)  # the kernels generate chose
    plan = plan_arena(graph)
    budget = check_fits(graph, plan, board_obj)
    src = render(graph, plan, manifest["model_name"])
    model_hash = _model_hash(graph, src.model_c)
    if model_hash != manifest["model_hash"]:
        raise UsageError(f"{project_dir} was generated from another model (model hash {manifest['model_hash']}, "
                         f"this model's is {model_hash})")
    return Project(Path(project_dir), board_obj, graph, plan, budget, src.layers, src.macs, model_hash,
                   manifest["firmware_hash"])


def read_manifest(project_dir) -> dict:
    p = Path(project_dir) / MANIFEST
    if not p.exists():
        raise FileNotFoundError(f"{project_dir}: not a generated mcuforge project (no {MANIFEST}); run 'mcuforge generate' first")
    return json.loads(p.read_text())
