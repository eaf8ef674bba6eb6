"""``generate --format micropython``: a MicroPython user C module built into MicroPython's qemu
port (the source tree in ../shared/micropython/, or $MCUFORGE_SHARED/micropython) for the
Cortex-M3 and M7 MPS2 machines; a script on the emulated board imports the model, invokes it and
prints the outputs, bit for bit what TFLM gives."""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from conftest import REPO
from mcuforge.model.tflite import load_tflite
from mcuforge.project import generate
from mcuforge.project.exporters.micropython import build_firmware
from mcuforge.reference.tflm import TflmModel
from mcuforge.validation import make_inputs
from models.zoo import ZOO

pytestmark = pytest.mark.qemu

NAME = "uno_mlp"
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


def check_on_board(elf: Path, machine: str, data: bytes) -> None:
    """The module's shapes, and its outputs on two samples equal TFLM's bytes."""
    graph = load_tflite(data)
    x = make_inputs(graph, 2, seed=3)
    reference = TflmModel(data)
    lines = [f"import {NAME}", f"print('shape', {NAME}.input_shape, {NAME}.output_shape)"]
    for xi in x:
        lines.append(f"print('out', {NAME}.invoke(bytes.fromhex('{xi.tobytes().hex()}')).hex())")
    text = run_script(elf, machine, "\r\n".join(lines + ["print('end')"]) + "\r\n", "\nend")
    shapes = (tuple(graph.tensors[graph.inputs[0]].shape), tuple(graph.tensors[graph.outputs[0]].shape))
    assert f"shape {shapes[0]} {shapes[1]}" in text, text
    got = [ln.split()[1] for ln in text.splitlines() if ln.startswith("out ")]
    want = [reference.run([xi[None]])[0].tobytes().hex() for xi in x]
    assert got == want, text


def test_cortex_m7_module_built_from_python_runs_as_tflm_says(micropython, tmp_path):
    """MPS2_AN500: the DSP kernels, MicroPython's double-precision floats."""
    data = ZOO[NAME]()
    generate(data, "mps2-an500", tmp_path / "modules", name=NAME, fmt="micropython")
    elf = build_firmware(micropython, tmp_path / "modules", "MPS2_AN500", build_dir=tmp_path / "build")
    check_on_board(elf, "mps2-an500", data)


def test_cortex_m3_module_built_by_the_cli_runs_as_tflm_says(micropython, tmp_path):
    """MPS2_AN385: the portable kernels, soft float; 'generate --micropython-dir' builds the
    firmware from the checkout (and refuses a folder that is not one, before writing)."""
    data = ZOO[NAME]()
    model = tmp_path / "m.tflite"
    model.write_bytes(data)
    argv = [sys.executable, "-m", "mcuforge", "generate", str(model), "-b", "mps2-an385", "--format", "micropython",
            "--name", NAME]
    p = subprocess.run([*argv, "-o", str(tmp_path / "a"), "--micropython-dir", str(tmp_path),
                        "--micropython-board", "MPS2_AN385"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "no ports/qemu/Makefile" in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert not (tmp_path / "a").exists()
    p = subprocess.run([*argv, "-o", str(tmp_path / "b"), "--micropython-dir", str(micropython),
                        "--micropython-board", "MPS2_AN385"], capture_output=True, text=True, timeout=1500)
    assert p.returncode == 0, p.stderr
    elf = micropython / "ports" / "qemu" / "build-MPS2_AN385" / "firmware.elf"
    assert f"firmware {elf}" in p.stdout and elf.is_file(), p.stdout
    check_on_board(elf, "mps2-an385", data)
