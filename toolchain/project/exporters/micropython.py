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


def check_checkout(micropython_dir, port: str = "qemu") -> Path:
    """The port's folder in a MicroPython checkout; refused when there is none."""
    port_dir = Path(micropython_dir) / "ports" / port
    if not (port_dir / "Makefile").is_file():
        raise UsageError(f"--micropython-dir {micropython_dir}: no ports/{port}/Makefile (a MicroPython checkout?)")
    return port_dir


def build_firmware(micropython_dir, modules_dir, board: str, port: str = "qemu", build_dir=None,
                   frozen_manifest: str | None = "", jobs: int = 2, timeout: float = 1800) -> Path:
    """Build MicroPython's ``port`` for its ``board`` with the modules in ``modules_dir`` (what
    ``export`` wrote) from the checkout ``micropython_dir``; returns the firmware ELF.
    ``frozen_manifest=""`` freezes nothing (a checkout without micropython-lib); None keeps the
    port's own manifest."""
    import subprocess

    from ...build.make import BuildError

    port_dir = check_checkout(micropython_dir, port)
    build = Path(build_dir) if build_dir else port_dir / f"build-{board}"
    argv = ["make", "-C", str(port_dir), f"BOARD={board}", f"USER_C_MODULES={Path(modules_dir).resolve()}",
            f"BUILD={build.resolve()}", f"-j{jobs}"]
    if frozen_manifest is not None:
        argv.append(f"FROZEN_MANIFEST={frozen_manifest}")
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BuildError(f"MicroPython build timed out after {timeout:.0f} s: {' '.join(argv)}") from None
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr).strip().splitlines()
        raise BuildError(f"MicroPython build failed (make exit {proc.returncode}): {' '.join(argv)}\n"
                         + "\n".join(log[-60:]))
    elf = build / "firmware.elf"
    if not elf.is_file():
        raise BuildError(f"MicroPython build succeeded but {elf} is missing")
    return elf
