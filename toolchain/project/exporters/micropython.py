"""The MicroPython user C module (``--format micropython``): ``<model>/`` with ``micropython.mk``,
the model, kernels and the runtime headers model.c needs (``layout.write_model_library``), and
``mod<model>.c``, the binding: ``import <model>; out = <model>.invoke(buf)`` (bytes in, bytes
out), ``<model>.input_shape``/``output_shape`` and ``<model>.quantization()`` (scales and zero
points). MicroPython brings main, start-up and I/O, so mcuforge's
runtime and link stay out. Build it into a MicroPython firmware with
``make -C ports/PORT USER_C_MODULES=DIR`` (DIR: the folder written here, which holds the module)."""
from __future__ import annotations

from pathlib import Path

from ... import resources
from ...boards import Board
from ...codegen.c_literals import c_float
from ...codegen.model_c import describe
from ...errors import UsageError
from ..layout import Library, Spec, write_model_library
from ..manifest import tensor_info

BUILD_COMMAND = "make -C MICROPYTHON/ports/PORT USER_C_MODULES={path} (MICROPYTHON: your checkout)"
NAME = "micropython"


def check(board: Board) -> None:
    """Any board: MicroPython's port is the user's choice (its CPU flags build the module)."""


def export(project_dir: Path, spec: Spec) -> Library:
    name, graph = spec.model_name, spec.graph
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UsageError(f"the MicroPython module takes models with one input and one output; this one has "
                         f"{len(graph.inputs)} and {len(graph.outputs)}")
    module = project_dir / name
    library = write_model_library(module, spec)

    def io(tensor: str) -> dict:
        info = tensor_info(graph, tensor)
        return dict(shape=info["shape"], bytes=info["bytes"], scale=c_float(info.get("scale", 1.0)),
                    zero_point=info.get("zero_point", 0), comment=describe(graph.tensors[tensor]))

    binding = f"mod{name}.c"
    (module / binding).write_text(resources.render_template(
        "micropython/module.c.j2", model_name=name, input=io(graph.inputs[0]), output=io(graph.outputs[0])))
    library.sources.append(binding)
    (module / "micropython.mk").write_text(resources.render_template(
        "micropython/micropython.mk.j2", model_name=name, var=f"MCUFORGE_{name.upper()}_DIR",
        sources=sorted(library.sources)))
    return library


def finish(project_dir: Path, library: Library) -> None:
    """Nothing to add once the build id is written."""
