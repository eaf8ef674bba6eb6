"""The runtime library every project holds, whatever builds it: the platform C sources copied
from mcuforge, the board folder, the files generated from board.json, and the model.

Layout, relative to the library's root (the project folder for the Makefile project)::

    mf_config.h             board.json + build options as C macros (no -D flags needed)
    linker.ld, mf_vectors.c from templates/arch/<arch>/*.j2 and board.json (per arch)
    firmware/runtime/ (+ arch/<arch>/), firmware/link/, firmware/kernels/,
    firmware/drivers/<kind>/ (board.json "drivers"), firmware/<ext>/ (extensions)
    board/                  a copy of boards/<name>/
    model/model.c, model.h  the generated model
    mf_frontend_config.h, mf_head_config.h   config of the device-side extensions (BNN keyword spotter)
    mf_build_id.h           the firmware hash the board announces

The library has no entry point: each exporter (``project/exporters/``) adds its own.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .. import resources
from ..boards import Board, load_board
from ..codegen.model_c import ModelSource, render
from ..codegen.platform import CONFIG_HEADER, EXTENSIONS_C, render_arch_files, render_config_header, render_extensions_c
from ..graph.ir import Graph
from ..plan.arena import ArenaPlan

C_SUFFIXES = (".c", ".h")
EXTENSION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MODEL_SOURCE = "model/model.c"


class ProjectError(ValueError):
    """The project cannot be laid out: a board names a missing arch or driver, a bad extension."""


@dataclass
class Spec:
    """What a project is generated from: the lowered graph, its plan, the board, the model's name
    in C, and the model's device-side parts (``meta``: BNN labels, feature config, head)."""
    graph: Graph
    meta: dict | None
    plan: ArenaPlan
    board: Board
    model_name: str


@dataclass
class Library:
    """What an exporter laid out: the model's C, and what a build system needs to compile it."""
    root: Path               # the library's folder (mf_build_id.h goes there)
    model: ModelSource
    extensions: list[str]
    sources: list[str]       # C sources, relative to the library root (model/model.c included)
    include_dirs: list[str]  # include path, relative to the library root


def write_library(root: Path, spec: Spec) -> Library:
    """The runtime library and the model, into ``root``."""
    model = write_model(root / "model", spec)
    extensions, headers = device_extensions(spec.graph, spec.meta, spec.board)
    for fname, text in headers.items():
        (root / fname).write_text(text)
    sources = copy_platform(spec.board, root, extensions=extensions) + [MODEL_SOURCE]
    return Library(root, model, extensions, sources, project_include_dirs(spec.board, extensions))


def write_model(folder: Path, spec: Spec) -> ModelSource:
    """``model.c`` and ``model.h`` into ``folder``."""
    model = render(spec.graph, spec.plan, spec.model_name)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.c").write_text(model.model_c)
    (folder / "model.h").write_text(model.model_h)
    return model


# What model.c is written against besides the kernels (firmware/runtime/): what a build that
# brings its own main, start-up and I/O (an Arduino core, MicroPython) needs of the runtime.
MODEL_RUNTIME_HEADERS = ("mf_model_api.h", "mf_profile.h", "mf_cycles.h")


def write_model_library(folder: Path, spec: Spec) -> Library:
    """The model without mcuforge's runtime and link, in one folder: model.c/h, the kernels, the
    runtime headers model.c includes and an ``mf_config.h`` without per-layer timing (for a
    build system that brings its own entry point and I/O and one include folder)."""
    model = write_model(folder, spec)
    fw = resources.firmware_dir()
    for f in sorted((fw / "kernels").iterdir()):
        if f.is_file() and f.suffix in C_SUFFIXES:
            shutil.copy2(f, folder / f.name)
    for h in MODEL_RUNTIME_HEADERS:
        shutil.copy2(fw / "runtime" / h, folder / h)
    (folder / CONFIG_HEADER).write_text(render_config_header(spec.board, profile=False))
    sources = sorted(p.name for p in folder.glob("*.c"))
    return Library(folder, model, [], sources, ["."])


def extension_ram(graph: Graph, meta: dict | None, board_obj) -> int:
    """Static RAM the model's firmware extensions add (the RNN's ring of frames; the other
    extensions are in the board's runtime figure or too large for a small part anyway)."""
    if not meta or meta.get("kind") != "rnn":
        return 0
    from ..rnn.rule import RnnRule, ram_bytes

    rule = RnnRule.from_meta(meta, classes=graph.tensors[graph.outputs[0]].size)
    audio = 0
    if meta.get("audio"):
        from ..rnn.audio import feature_config, frontend_ram

        audio = sum(frontend_ram(feature_config(meta)).values())
    return ram_bytes(rule, graph, board_obj.link_max_payload) + audio


def device_extensions(graph: Graph, meta: dict | None, board_obj) -> tuple[list[str], dict[str, str]]:
    """Firmware extensions and their generated config headers for a model with device-side parts:
    a BNN keyword spotter gets the audio front end and the on-device learning head; an RNN the
    windowing, early exit and bag rule around its one-step graph (and, for audio input, the
    front end, which hands it each frame)."""
    if not meta:
        return [], {}
    files: dict[str, str] = {}
    exts: list[str] = []
    if meta.get("kind") == "rnn":
        from ..rnn.rule import RnnRule, render_rnn_config

        logits = graph.tensors[graph.outputs[0]]
        rule = RnnRule.from_meta(meta, classes=logits.size)
        audio = bool(meta.get("audio"))
        files["mf_rnn_config.h"] = render_rnn_config(rule, graph, board_obj.link_max_payload, audio=audio)
        if audio:
            from ..rnn.audio import render_frontend_header

            files["mf_frontend_config.h"] = render_frontend_header(meta)
            return ["frontend", "rnn"], files
        return ["rnn"], files
    if meta.get("feature_config") is not None:
        from ..data.features import FeatureConfig
        from ..frontend.config import render_frontend_config

        cfg = meta["feature_config"]
        cfg = cfg if isinstance(cfg, FeatureConfig) else FeatureConfig.from_dict(cfg)
        t = graph.tensors[graph.inputs[0]]
        files["mf_frontend_config.h"] = render_frontend_config(cfg, t.quant.s, t.quant.zp)
        exts.append("frontend")
    if meta.get("head_W") is not None:
        from ..learning.config import model_head, render_head_config

        lc = meta.get("last_conv")  # learning below the head: the last conv runs in its extension
        files["mf_head_config.h"] = render_head_config(*model_head(meta), last_conv=lc is not None)
        exts.append("learning")
        if lc is not None:
            from ..learning.last_conv import render_board_config

            files["mf_last_conv_config.h"] = render_board_config(lc)
            exts.append("last_conv")
    return exts, files


def _copy_c_files(src: Path, dst: Path) -> list[Path]:
    """Copy the .c/.h files of one folder (not its subfolders); returns the copied .c files."""
    dst.mkdir(parents=True, exist_ok=True)
    sources = []
    for f in sorted(src.iterdir()):
        if f.is_file() and f.suffix in C_SUFFIXES:
            shutil.copy2(f, dst / f.name)
            if f.suffix == ".c":
                sources.append(dst / f.name)
    return sources


def copy_platform(board: Board | str, dest_dir: str | Path,
                  extensions: Iterable[str] = (), profile: bool = True) -> list[str]:
    """Lay out the runtime library without the model in ``dest_dir``: runtime, link, kernels,
    the board's drivers (+ ``firmware/<ext>/`` per extension), the board folder, ``mf_config.h``
    and the arch files generated from board.json; returns its C sources, relative to ``dest_dir``.
    An extension ``NAME`` is a folder ``firmware/NAME/`` whose C code defines
    ``void mf_ext_NAME_register(void)`` (it registers its table of
    ``mf_link_route`` with ``MF_LINK_REGISTER_ROUTES``)."""
    board = load_board(board)
    dest = Path(dest_dir)
    fw = resources.firmware_dir()
    arch_dir = fw / "runtime" / "arch" / board.arch
    if not arch_dir.is_dir():
        raise ProjectError(f"board '{board.name}' has arch '{board.arch}' but {arch_dir} does not exist")
    for d in board.drivers:
        if not (fw / "drivers" / d).is_dir():
            raise ProjectError(f"board '{board.name}' uses driver '{d}' but {fw / 'drivers' / d} does not exist")
    exts = list(extensions)
    for e in exts:
        if not EXTENSION_NAME.match(e) or e in ("runtime", "link", "kernels"):
            raise ProjectError(f"bad extension name '{e}' (lower-case C identifier, not a core folder)")
        if not (fw / e).is_dir():
            raise ProjectError(f"extension '{e}' not found: no folder {fw / e}")

    sources: list[Path] = []
    sources += _copy_c_files(fw / "runtime", dest / "firmware" / "runtime")
    sources += _copy_c_files(arch_dir, dest / "firmware" / "runtime" / "arch" / board.arch)
    for d in board.drivers:
        sources += _copy_c_files(fw / "drivers" / d, dest / "firmware" / "drivers" / d)
    sources += _copy_c_files(fw / "link", dest / "firmware" / "link")
    if (fw / "kernels").is_dir():
        sources += _copy_c_files(fw / "kernels", dest / "firmware" / "kernels")
    for e in exts:
        sources += _copy_c_files(fw / e, dest / "firmware" / e)
    if exts:
        (dest / "firmware" / "runtime" / EXTENSIONS_C).write_text(render_extensions_c(exts))

    board_dst = dest / "board"
    if board_dst.exists():
        shutil.rmtree(board_dst)
    shutil.copytree(board.path, board_dst)
    sources += sorted(board_dst.glob("*.c"))

    (dest / CONFIG_HEADER).write_text(render_config_header(board, profile=profile))
    for name, text in render_arch_files(board).items():
        (dest / name).write_text(text)
        if name.endswith(".c"):
            sources.append(dest / name)
    return [p.relative_to(dest).as_posix() for p in sources]


def project_include_dirs(board: Board | str, extensions: Iterable[str] = ()) -> list[str]:
    """Include path of the runtime library, relative to its root."""
    board = load_board(board)
    dirs = [".", "model", "board", "firmware/runtime", f"firmware/runtime/arch/{board.arch}",
            *[f"firmware/drivers/{d}" for d in board.drivers], "firmware/link", "firmware/kernels"]
    return dirs + [f"firmware/{e}" for e in extensions]
