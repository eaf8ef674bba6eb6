"""``generate --format arduino``: an Arduino library (.zip for "Add .ZIP Library") whose example
sketch, compiled offline by Debian's arduino-builder for arduino:avr:uno from the unpacked .zip,
runs on the emulated Uno (simavr) and prints the outputs TFLM computes for the same sample."""
from __future__ import annotations

import re
import subprocess
import time
import zipfile

import numpy as np
import pytest
import serial

from mcuforge.boards import load_board
from mcuforge.errors import UsageError
from mcuforge.flash import SimavrSession
from mcuforge.model.tflite import load_tflite
from mcuforge.project import generate
from mcuforge.project.exporters.arduino import SAMPLE_SEED
from mcuforge.reference.tflm import TflmModel
from mcuforge.validation import make_inputs
from models.zoo import ZOO

NAME = "uno_mlp"
HARDWARE = "/usr/share/arduino/hardware"  # arduino-core-avr
BUILDER = "/usr/share/arduino-builder"    # arduino-builder's own platform.txt: the ctags recipe
OUTPUT_RE = re.compile(r"^output (\d+):((?: -?\d+)+)\r?$", re.M)


def arduino_builder(sketch, libraries, build, tools) -> subprocess.CompletedProcess:
    """The compile line of /work/shared/platform-notes.md (avr-gcc 5.4 needs DECIMAL_DIG)."""
    return subprocess.run(
        ["arduino-builder", "-compile", "-hardware", HARDWARE, "-hardware", BUILDER, "-tools", str(tools),
         "-fqbn", "arduino:avr:uno", "-core-api-version", "10819",
         "-prefs=compiler.cpp.extra_flags=-DDECIMAL_DIG=9", "-libraries", str(libraries),
         "-build-path", str(build), str(sketch)], capture_output=True, text=True, timeout=300)


def read_until(port: serial.Serial, marker: bytes, timeout: float = 20.0) -> str:
    out = b""
    deadline = time.monotonic() + timeout
    while marker not in out and time.monotonic() < deadline:
        out += port.read(256)
    return out.decode(errors="replace")


@pytest.mark.simavr
def test_example_sketch_runs_on_the_emulated_uno_as_tflm_says(tmp_path):
    data = ZOO[NAME]()
    project = generate(data, "uno", tmp_path / "fw", name=NAME, fmt="arduino")
    lib = f"mcuforge_{NAME}"
    with zipfile.ZipFile(project.path / f"{lib}.zip") as z:
        names = set(z.namelist())
        assert {f"{lib}/library.properties", f"{lib}/src/model.c", f"{lib}/src/{lib}.h",
                f"{lib}/examples/{NAME}/{NAME}.ino"} <= names
        z.extractall(tmp_path / "libraries")  # as "Add .ZIP Library" unpacks it
    props = (tmp_path / "libraries" / lib / "library.properties").read_text()
    assert f"name={lib}\n" in props and "architectures=avr\n" in props

    (tmp_path / "tools").mkdir()
    (tmp_path / "build").mkdir()
    sketch = tmp_path / "libraries" / lib / "examples" / NAME / f"{NAME}.ino"
    p = arduino_builder(sketch, tmp_path / "libraries", tmp_path / "build", tmp_path / "tools")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    hex_file = tmp_path / "build" / f"{NAME}.ino.hex"
    assert hex_file.is_file()

    x = make_inputs(load_tflite(data), 1, SAMPLE_SEED)
    want = TflmModel(data).run([x])[0].reshape(-1)
    with SimavrSession([hex_file], load_board("uno")) as session:
        with serial.serial_for_url(session.url, baudrate=115200, timeout=0.2) as port:
            session.resume()
            text = read_until(port, b"done\r\n")
    assert f"{NAME}: status 0," in text, text
    outputs = {int(i): [int(v) for v in vals.split()] for i, vals in OUTPUT_RE.findall(text)}
    assert list(outputs) == [0], text
    np.testing.assert_array_equal(np.array(outputs[0]), want.astype(int))


def test_a_board_that_is_no_arduino_is_refused(tmp_path):
    with pytest.raises(UsageError, match="netduinoplus2.*not an Arduino board"):
        generate(ZOO[NAME](), "netduinoplus2", tmp_path / "fw", fmt="arduino")
    assert not (tmp_path / "fw").exists()
