"""``mcuforge generate``: model file + board -> a self-contained firmware project for one build
system (``--format``; the default is the Makefile project).

The runtime library and the model (``layout``) go where the format puts them, the exporter adds
its entry point and build files, and the manifest (``manifest``) lists every file written; the
files are staged and moved in by ``output``, so a user's folder is never mixed into.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .. import ops as op_registry
from ..boards import load_board
from ..codegen.model_c import Layer, c_ident, render
from ..codegen.platform import BUILD_ID_HEADER, render_build_id
from ..graph.ir import Graph
from ..model.keras_rnn import graph_for_board
from ..model.loader import load
from ..plan.arena import ArenaPlan, plan_arena
from ..plan.budget import Budget, check_fits
from .exporters import DEFAULT_FORMAT, exporter
from .layout import Spec, extension_ram
from .manifest import MANIFEST, hash_tree, make_manifest, model_hash, read_manifest, write_manifest
from .output import check_out_dir, install, owned_files, staging


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


def _plan(graph: Graph, board_obj, meta: dict | None) -> tuple[ArenaPlan, Budget]:
    """Kernels for the board's core, the arena plan, and the fit check (before any C is written;
    with the RAM of the model's firmware extensions)."""
    op_registry.select_variants(graph, board_obj)
    plan = plan_arena(graph)
    return plan, check_fits(graph, plan, board_obj, extension_ram(graph, meta, board_obj))


def generate(model, board: str, out_dir, name: str | None = None, force: bool = False,
             fmt: str = DEFAULT_FORMAT, audio: bool = False) -> Project:
    """Write the project for ``model`` (a Model, or anything ``mcuforge.model.load`` takes) on
    ``board`` into ``out_dir``, in format ``fmt`` (``project.exporters``).

    ``out_dir`` must be new, empty or a project mcuforge wrote (regenerating removes the files of
    the old project it no longer writes); any other folder is refused unless ``force``, and then
    only mcuforge's own files are added. The files are written into a staging folder first, so
    the firmware hash covers exactly them and nothing is touched if generation fails.

    ``audio``: a keyword RNN takes int16 audio through the on-device log-mel front end
    (``mcuforge.rnn.audio``) instead of frames; refused where the front end does not fit."""
    export = exporter(fmt)
    loaded = load(model)
    board_obj = load_board(board)
    graph, meta = graph_for_board(loaded, board_obj), loaded.meta  # an RNN in fixed point without an FPU
    if audio:
        from ..rnn.audio import audio_meta

        meta = audio_meta(meta, board_obj)
    export.check(board_obj)
    model_name = c_ident(name or graph.name or "model")
    plan, budget = _plan(graph, board_obj, meta)

    out = Path(out_dir)
    previous = check_out_dir(out, force)
    spec = Spec(graph, meta, plan, board_obj, model_name)
    with staging(out) as stage:
        library = export.export(stage, spec)
        mhash = model_hash(graph, library.model.model_c)
        build_id = (library.root / BUILD_ID_HEADER).relative_to(stage).as_posix()
        firmware_hash = hash_tree(stage, skip={build_id})
        (stage / build_id).write_text(render_build_id(firmware_hash, mhash))
        export.finish(stage, library)
        files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
        write_manifest(stage, make_manifest(fmt=export.NAME, model_name=model_name, model_hash=mhash,
                                            firmware_hash=firmware_hash, board=board_obj, graph=graph, meta=meta,
                                            plan=plan, budget=budget, library=library, files=files))
        install(stage, out, files + [MANIFEST], stale=owned_files(out, previous))
    return Project(out, board_obj, graph, plan, budget, library.model.layers, library.model.macs, mhash,
                   firmware_hash)


def load_project(project_dir, model) -> Project:
    """The project ``generate`` wrote into ``project_dir`` for ``model``, as it is on disk (not
    regenerated: what is validated is the firmware there). Refused when it was generated from
    another model."""
    from ..errors import UsageError

    manifest = read_manifest(project_dir)
    board_obj = load_board(manifest["board"])
    loaded = load(model)
    graph = graph_for_board(loaded, board_obj)
    plan, budget = _plan(graph, board_obj, loaded.meta)  # the kernels generate chose
    src = render(graph, plan, manifest["model_name"])
    mhash = model_hash(graph, src.model_c)
    if mhash != manifest["model_hash"]:
        raise UsageError(f"{project_dir} was generated from another model (model hash {manifest['model_hash']}, "
                         f"this model's is {mhash})")
    return Project(Path(project_dir), board_obj, graph, plan, budget, src.layers, src.macs, mhash,
                   manifest["firmware_hash"])
