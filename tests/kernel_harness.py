"""Host harness: compile firmware/kernels/*.c with the native gcc and call kernels via ctypes.

Tests use it to check a C kernel against its numpy reference on the host in milliseconds,
before the same kernel runs on an emulated board. Each kernel file is built into its own
shared library (so one broken kernel does not stop the others' tests), once per test
session, with the firmware's warning flags plus ``-Werror``.

    lib = kernel_lib("conv2d")                    # compiles firmware/kernels/conv2d.c
    lib.mf_conv2d_s8(ctypes.byref(params), ptr(x), ptr(w), ...)

``ptr(array)`` gives a typed pointer to a C-contiguous numpy array (keep the array alive for
the call); ``out_buffer(shape, dtype)`` allocates an output with guard bytes, and
``check_guards`` asserts the kernel wrote nothing outside it.
"""
from __future__ import annotations

import atexit
import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
KERNELS = REPO / "firmware" / "kernels"
CC = os.environ.get("MF_HOST_CC", "gcc")
CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared"]

_BUILD_DIR: Path | None = None
_LIBS: dict[str, ctypes.CDLL] = {}

_CTYPES = {
    np.dtype(np.int8): ctypes.c_int8,
    np.dtype(np.uint8): ctypes.c_uint8,
    np.dtype(np.int16): ctypes.c_int16,
    np.dtype(np.int32): ctypes.c_int32,
    np.dtype(np.int64): ctypes.c_int64,
    np.dtype(np.float32): ctypes.c_float,
}
GUARD = 16  # guard bytes either side of an output buffer
GUARD_VALUE = 0x5A


def build_dir() -> Path:
    global _BUILD_DIR
    if _BUILD_DIR is None:
        _BUILD_DIR = Path(tempfile.mkdtemp(prefix="mf-kernels-"))
        atexit.register(shutil.rmtree, _BUILD_DIR, True)
    return _BUILD_DIR


def compile_sources(sources: list[Path], name: str, extra_flags: list[str] | None = None) -> Path:
    """Compile C sources into a shared library; a compiler error fails with gcc's output."""
    digest = hashlib.sha256()
    for s in sources:
        digest.update(Path(s).read_bytes())
    for h in sorted(KERNELS.glob("*.h")):
        digest.update(h.read_bytes())
    digest.update(" ".join(extra_flags or []).encode())
    out = build_dir() / f"lib{name}-{digest.hexdigest()[:12]}.so"
    if not out.exists():
        cmd = [CC, *CFLAGS, *(extra_flags or []), f"-I{KERNELS}", "-o", str(out), *map(str, sources), "-lm"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"host compile of {name} failed:\n{' '.join(cmd)}\n{res.stderr}")
    return out


def kernel_lib(name: str) -> ctypes.CDLL:
    """The kernel ``firmware/kernels/<name>.c`` as a loaded library (compiled once per session)."""
    if name not in _LIBS:
        src = KERNELS / f"{name}.c"
        if not src.exists():
            raise FileNotFoundError(f"no kernel source {src}")
        _LIBS[name] = ctypes.CDLL(str(compile_sources([src], name)))
    return _LIBS[name]


def all_kernels_lib() -> ctypes.CDLL:
    """Every kernel in one library (also proves the kernels link together without clashes)."""
    if "*" not in _LIBS:
        sources = sorted(KERNELS.glob("*.c"))
        _LIBS["*"] = ctypes.CDLL(str(compile_sources(sources, "mfkernels")))
    return _LIBS["*"]


def ptr(array: np.ndarray):
    """Typed C pointer to a C-contiguous numpy array (raises on a copy-needing array)."""
    if not array.flags["C_CONTIGUOUS"]:
        raise ValueError("array must be C-contiguous; use np.ascontiguousarray")
    return array.ctypes.data_as(ctypes.POINTER(_CTYPES[array.dtype]))


def out_buffer(shape, dtype) -> np.ndarray:
    """An output array inside a larger buffer filled with guard bytes (see :func:`view`)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) if len(shape) else 1
    raw = np.full(n * dtype.itemsize + 2 * GUARD, GUARD_VALUE, dtype=np.uint8)
    arr = raw[GUARD : GUARD + n * dtype.itemsize].view(dtype).reshape(shape)
    return arr


def check_guards(arr: np.ndarray) -> None:
    """Assert the kernel did not write before or after an array from :func:`out_buffer`."""
    raw = arr
    while raw.base is not None:
        raw = raw.base
    raw = np.asarray(raw).view(np.uint8).reshape(-1)
    assert (raw[:GUARD] == GUARD_VALUE).all(), "kernel wrote before the start of its output"
    assert (raw[-GUARD:] == GUARD_VALUE).all(), "kernel wrote past the end of its output"


def struct_type(name: str, fields: list[tuple[str, type]]) -> type:
    """A ctypes.Structure mirroring a C params struct (fields in declaration order)."""
    return type(name, (ctypes.Structure,), {"_fields_": fields})


# ---------------------------------------------------------------- emit() end to end on the host


def run_emitted(op, graph, inputs: list[np.ndarray], extra_sources: list[str] | None = None) -> list[np.ndarray]:
    """Compile and run the C that ``emit()`` writes for one op, natively; return its outputs.

    Builds a small program: the op's declarations (``ctx.decl``/``ctx.array``), every constant
    input as a ``static const`` array, activations as arrays holding ``inputs``, then the one
    emitted statement; outputs are written to stdout as raw bytes. Checks that the params
    struct, argument order and header of an op's emit() agree with its kernel.
    """
    from mcuforge.codegen.c_literals import c_array_body
    from mcuforge.codegen.context import EmitContext
    from mcuforge.graph.ir import C_TYPES, DTYPES
    from mcuforge import ops

    mod = ops.get(op.kind)
    exprs: dict[str, str] = {}
    lines = ["#include <stdint.h>", "#include <stddef.h>", "#include <stdio.h>",
             f'#include "{getattr(mod, "C_HEADER", op.kind + ".h")}"', ""]
    acts = [n for n in op.inputs if n and not graph.tensor(n).is_const]
    for i, n in enumerate(n for n in op.inputs if n and graph.tensor(n).is_const):
        t = graph.tensor(n)
        exprs[n] = f"W{i}"
        lines.append(f"static const {C_TYPES[t.dtype]} W{i}[{max(t.size, 1)}] = {{\n"
                     f"{c_array_body(t.data.astype(DTYPES[t.dtype]))}\n}};")
    for i, n in enumerate(acts):
        t = graph.tensor(n)
        arr = np.asarray(inputs[op.inputs.index(n)]).astype(DTYPES[t.dtype])
        exprs[n] = f"A{i}"
        lines.append(f"static {C_TYPES[t.dtype]} A{i}[{max(t.size, 1)}] = {{\n{c_array_body(arr)}\n}};")
    out_syms = []
    for i, n in enumerate(op.outputs):
        t = graph.tensor(n)
        if n not in exprs:  # else the op updates that input in place (a state tensor)
            exprs[n] = f"Y{i}"
            lines.append(f"static {C_TYPES[t.dtype]} Y{i}[{max(t.size, 1)}];")
        out_syms.append(exprs[n])
    scratch = getattr(mod, "scratch_bytes", None)
    nscratch = int(scratch(op, graph)) if scratch else 0
    if nscratch:
        lines.append(f"static uint8_t S0[{nscratch}];")
        exprs["__scratch__"] = "((void *)S0)"
    ctx = EmitContext(graph, op, 0, exprs)
    call = mod.emit(op, graph, ctx)
    lines += ctx.decls
    lines += ["", "int main(void)", "{", f"    {call.strip()}"]
    for sym in out_syms:
        lines.append(f"    fwrite({sym}, 1, sizeof({sym}), stdout);")
    lines += ["    return 0;", "}", ""]

    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]
    src = build_dir() / f"emit-{op.kind}-{digest}.c"
    exe = src.with_suffix("")
    src.write_text("\n".join(lines))
    kernel_srcs = [KERNELS / f"{op.kind}.c"] + [KERNELS / s for s in (extra_sources or [])]
    cmd = [CC, "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{KERNELS}", "-o", str(exe), str(src),
           *map(str, kernel_srcs), "-lm"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"emitted C for {op.kind} does not compile:\n{res.stderr}\n--- source ---\n{src.read_text()}")
    run = subprocess.run([str(exe)], capture_output=True, timeout=60)
    if run.returncode != 0:
        raise RuntimeError(f"emitted program for {op.kind} exited with {run.returncode}: {run.stderr!r}")
    outs, pos = [], 0
    for n in op.outputs:
        t = graph.tensor(n)
        nbytes = t.size * np.dtype(DTYPES[t.dtype]).itemsize
        outs.append(np.frombuffer(run.stdout[pos : pos + nbytes], dtype=DTYPES[t.dtype]).reshape(t.shape))
        pos += nbytes
    return outs
