"""``mcuforge generate``: model file + board -> a self-contained firmware project that builds with ``make``.

DIR/
  Makefile           plain make, the board's compiler flags
  mcuforge.json      manifest: board, hashes, arena, layers, input/output quantization
  mf_build_id.h      firmware hash the board announces in its hello
  model/model.{c,h}  the generated model
  firmware/, board/  runtime, link, kernels and board support copied from mcuforge
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..boards import load_board
from ..build.project import copy_platform, project_include_dirs, write_makefile
from ..graph.ir import Graph
from ..plan.arena import ArenaPlan, plan_arena
from ..plan.budget import Budget, check_fits
from .model_c import Layer, c_ident, render

MANIFEST = "mcuforge.json"


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


def load_model(model) -> Graph:
    """A Graph from a path (by suffix), raw .tflite bytes, or a Graph."""
    return load_model_meta(model)[0]


def load_model_meta(model) -> tuple[Graph, dict | None]:
    """(Graph, meta) from a model. meta is None for plain int8 models; for a BNN keyword spotter
    (.keras saved with mcuforge's binary layers) it carries labels, feature config and head."""
    if isinstance(model, Graph):
        return model, None
    path = Path(model) if not isinstance(model, (bytes, bytearray)) else None
    if path is not None and path.suffix == ".keras":
        if not path.exists():
            raise FileNotFoundError(f"model file not found: {path}")
        from ..model.keras_bnn import load_bnn_keras

        graph, meta = load_bnn_keras(path)
        if not graph.name or graph.name in ("main", "model"):
            graph.name = path.stem
        return graph, meta
    return _load_tflite(model), None


def _load_tflite(model) -> Graph:
    if isinstance(model, (bytes, bytearray)):
        from ..model.tflite import load_tflite

        return load_tflite(bytes(model))
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.suffix == ".tflite":
        from ..model.tflite import load_tflite

        g = load_tflite(path)
        if not g.name or g.name in ("main", "model"):
            g.name = path.stem
        return g
    raise ValueError(f"{path}: unknown model format '{path.suffix}' "
                     "(supported: .tflite int8 models, .keras BNNs made with mcuforge's binary layers)")


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


def generate(model, board: str, out_dir, name: str | None = None) -> Project:
    graph, meta = load_model_meta(model)
    board_obj = load_board(board)
    model_name = c_ident(name or graph.name or "model")
    plan = plan_arena(graph)
    budget = check_fits(graph, plan, board_obj)  # before any C is written

    out = Path(out_dir)
    (out / "model").mkdir(parents=True, exist_ok=True)
    src = render(graph, plan, model_name)
    (out / "model" / "model.c").write_text(src.model_c)
    (out / "model" / "model.h").write_text(src.model_h)
    extensions, extra_files = device_extensions(graph, meta)
    for fname, text in extra_files.items():
        (out / fname).write_text(text)
    sources = copy_platform(board_obj, out, extensions=extensions)
    write_makefile(out, board_obj, sources + ["model/model.c"], project_include_dirs(board_obj, extensions))

    model_hash = (graph.source_hash or hashlib.sha256(src.model_c.encode()).hexdigest())[:16]
    firmware_hash = _hash_tree(out, skip={"mf_build_id.h", MANIFEST})
    (out / "mf_build_id.h").write_text(
        "/* Generated by mcuforge: identifies this firmware in the board's hello. */\n"
        "#ifndef MF_BUILD_ID_H\n#define MF_BUILD_ID_H\n"
        f'#define MF_FIRMWARE_HASH "{firmware_hash}"\n#define MF_MODEL_HASH "{model_hash}"\n#endif\n'
    )
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
    )
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default))
    return Project(out, board_obj, graph, plan, budget, src.layers, src.macs, model_hash, firmware_hash)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o))


def read_manifest(project_dir) -> dict:
    p = Path(project_dir) / MANIFEST
    if not p.exists():
        raise FileNotFoundError(f"{project_dir}: not a generated mcuforge project (no {MANIFEST}); run 'mcuforge generate' first")
    return json.loads(p.read_text())
