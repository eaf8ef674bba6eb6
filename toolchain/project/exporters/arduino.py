"""The Arduino library (``--format arduino``), for a board that is an Arduino (board.json
``arduino``): ``mcuforge_<model>/`` with ``library.properties``, ``src/`` (the model, the
kernels and the few runtime headers the model is written against, in one folder: the Arduino
build puts only ``src/`` on the include path) and ``examples/<model>/<model>.ino``, which runs
the model on one sample and prints the outputs over ``Serial``; and ``mcuforge_<model>.zip``,
the same folder packed for the IDE's "Add .ZIP Library".

The Arduino core brings ``main()``, start-up, timers and ``Serial``, so mcuforge's runtime and
link are not part of the library: a sketch calls the model directly.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ... import resources
from ...boards import Board
from ...codegen.c_literals import c_array_body
from ...errors import UsageError
from ..layout import Library, Spec, write_model_library

BUILD_COMMAND = "the Arduino IDE (Sketch > Include Library > Add .ZIP Library: {path}/*.zip)"
NAME = "arduino"
SAMPLE_SEED = 0  # the example's input: validation.make_inputs(graph, 1, SAMPLE_SEED)[0]


def library_name(model_name: str) -> str:
    return f"mcuforge_{model_name}"


def check(board: Board) -> None:
    if board.arduino_fqbn is None:
        raise UsageError(f"board '{board.name}' is not an Arduino board (board.json 'arduino'); "
                         "export it with --format make or platformio")


def export(project_dir: Path, spec: Spec) -> Library:
    from ...validation import make_inputs

    board, name = spec.board, spec.model_name
    lib = project_dir / library_name(name)
    src = lib / "src"
    library = write_model_library(src, spec)
    header = f"{library_name(name)}.h"
    (src / header).write_text(resources.render_template(
        "arduino/header.h.j2", board=board.to_dict(), model_name=name, header=header,
        guard=library_name(name).upper() + "_H"))
    (lib / "library.properties").write_text(resources.render_template(
        "arduino/library.properties.j2", board=board.to_dict(), model_name=name, library=library_name(name),
        header=header, architecture=board.arduino_fqbn.split(":")[1]))

    sample = make_inputs(spec.graph, 1, SAMPLE_SEED)[0]
    t = spec.graph.tensors[spec.graph.inputs[0]]
    example = lib / "examples" / name
    example.mkdir(parents=True)
    (example / f"{name}.ino").write_text(resources.render_template(
        "arduino/example.ino.j2", model_name=name, header=header, baud=board.uart["baud"], seed=SAMPLE_SEED,
        sample_bytes=sample.nbytes, sample_body=c_array_body(np.frombuffer(sample.tobytes(), np.uint8)),
        sample_comment=f"{t.name}: {'x'.join(map(str, t.shape))} {t.dtype}, as bytes"))
    return library


def finish(project_dir: Path, library: Library) -> None:
    """Pack the library folder as ``<library>.zip`` (its folder at the archive's root)."""
    lib = library.root.parent
    with zipfile.ZipFile(project_dir / f"{lib.name}.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(lib.rglob("*")):
            if p.is_file():
                info = zipfile.ZipInfo(p.relative_to(project_dir).as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                z.writestr(info, p.read_bytes())
