"""``generate --format micropython``: a MicroPython user C module built into MicroPython's qemu
port (the source tree in ../shared/micropython/, or $MCUFORGE_SHARED/micropython) for the
Cortex-M3 and M7 MPS2 machines; a script on the emulated board imports the model, invokes it and
prints the outputs, bit for bit what TFLM gives."""
from __future__ import annotations

import os
import subprocess
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from mcuforge.model.tflite import load_tflite
from mcuforge.project import generate
from mcuforge.reference.tflm import TflmModel
from mcuforge.validation import make_inputs
from models.zoo import ZOO

pytestmark = pytest.mark.qemu

NAME = "uno_mlp"
PORTS = {"MPS2_AN385": "mps2-an385", "MPS2_AN500": "mps2-an500"}  # MicroPython board -> QEMU machine
SHARED = Path(os.environ["MCUFORGE_SHARED"]) if os.environ.get("MCUFORGE_SHARED") else REPO.parent / "shared"


@pytest.fixture(scope="module")
def micropython(tmp_path_factory) -> Path:
    """MicroPython's source tree, unpacked from the shared copy (the qemu port without frozen
    modules needs no mpy-cross)."""
    tarball = SHARED / "micropython" / "micropython-src.tar.gz"
    assert tarball.is_file(), f"MicroPython source not found: {tarball} (set MCUFORGE_SHARED)"
    root = tmp_path_factory.mktemp("micropython")
    with tarfile.open(tarball) as t:
        t.extractall(root, filter="data")
    return next(root.iterdir())


def run_script(elf: Path, machine: str, script: str, marker: str, timeout: float = 60.0) -> str:
    """Lines typed at the REPL on the board's UART (QEMU's stdio); returns what it printed."""
    proc = subprocess.Popen(["qemu-system-arm", "-machine", machine, "-nographic", "-monitor", "null",
                             "-semihosting", "-kernel", str(elf)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    os.set_blocking(proc.stdout.fileno(), False)
    out = b""
    try:
        proc.stdin.write(script.encode())
        proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while marker.encode() not in out and time.monotonic() < deadline and proc.poll() is None:
            out += proc.stdout.read() or b""
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    return out.decode(errors="replace")


@pytest.mark.parametrize("port", sorted(PORTS))
def test_module_runs_in_micropython_on_the_emulated_board_as_tflm_says(port, micropython, tmp_path):
    data = ZOO[NAME]()
    modules = tmp_path / "modules"
    generate(data, PORTS[port], modules, name=NAME, fmt="micropython")
    build = subprocess.run(["make", "-C", str(micropython / "ports" / "qemu"), f"BOARD={port}", "FROZEN_MANIFEST=",
                            f"USER_C_MODULES={modules}", f"BUILD={tmp_path / 'build'}", "-j2"],
                           capture_output=True, text=True, timeout=1200)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]

    x = make_inputs(load_tflite(data), 2, seed=3)
    reference = TflmModel(data)
    lines = [f"import {NAME}", f"print('shape', {NAME}.input_shape, {NAME}.output_shape)"]
    for xi in x:
        lines.append(f"print('out', {NAME}.invoke(bytes.fromhex('{xi.tobytes().hex()}')).hex())")
    text = run_script(tmp_path / "build" / "firmware.elf", PORTS[port], "\r\n".join(lines + ["print('end')"]) + "\r\n",
                      "\nend")
    graph = load_tflite(data)
    shapes = (tuple(graph.tensors[graph.inputs[0]].shape), tuple(graph.tensors[graph.outputs[0]].shape))
    assert f"shape {shapes[0]} {shapes[1]}" in text, text
    got = [ln.split()[1] for ln in text.splitlines() if ln.startswith("out ")]
    want = [reference.run([xi[None]])[0].tobytes().hex() for xi in x]
    assert got == want, text
