"""``generate --format platformio``: the project names PlatformIO's standard platform and board
id, and builds offline with ``pio run`` through a local platform (tests/platformio_offline.py);
the ELF PlatformIO linked runs on the emulated board, announces the project's firmware hash and
is bit-exact with TFLM."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from mcuforge.errors import UsageError
from mcuforge.flash import open_session
from mcuforge.model.tflite import load_tflite
from mcuforge.project import EXPORTERS, generate
from mcuforge.reference.tflm import TflmModel
from mcuforge.validation import make_inputs
from models.zoo import ZOO
from platformio_offline import offline_project, pio, write_core

MODEL = "uno_mlp"  # fits every board, the Uno's 2 KB included
STANDARD = {"netduinoplus2": ("ststm32", "genericSTM32F405RG"), "uno": ("atmelavr", "uno")}


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    return write_core(tmp_path_factory.mktemp("pio"))


@pytest.mark.qemu
@pytest.mark.simavr
@pytest.mark.parametrize("board", sorted(STANDARD))
def test_platformio_project_builds_offline_and_runs_bit_exact(board, core, tmp_path):
    data = ZOO[MODEL]()
    project = generate(data, board, tmp_path / "fw", fmt="platformio")
    ini = (project.path / "platformio.ini").read_text()
    platform, board_id = STANDARD[board]
    assert f"\nplatform = {platform}\n" in ini and f"\nboard = {board_id}\n" in ini
    assert {"platformio.ini", "mcuforge_link.py", "src/main.c", "src/mcuforge/model/model.c",
            "src/mcuforge/mf_config.h"} <= set(project.manifest["files"])

    work = offline_project(project.path, tmp_path / "offline", core["PLATFORMIO_PLATFORM"])
    p = pio(["run", "-d", str(work)], core)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    elf = work / ".pio" / "build" / board / "firmware.elf"
    assert elf.is_file() and elf.with_suffix(".hex").is_file()

    x = make_inputs(load_tflite(data), 3, seed=2)
    reference = TflmModel(data)
    with open_session(elf, board) as session:
        link = session.link(expected_hash=project.firmware_hash)  # the firmware of this project
        for xi in x:
            got, ticks = link.run([xi[None]])
            want = reference.run([xi[None]])[0]
            np.testing.assert_array_equal(np.asarray(got[0]).reshape(want.shape), want)
            assert ticks > 0


def test_a_board_without_a_platformio_board_is_refused_before_writing(tmp_path):
    with pytest.raises(UsageError, match="mps2-an385.*no PlatformIO board.*--format make"):
        generate(ZOO[MODEL](), "mps2-an385", tmp_path / "fw", fmt="platformio")
    assert not (tmp_path / "fw").exists()


def test_cli_formats_are_the_exporters():
    from mcuforge.commands.generate import FORMATS

    assert list(FORMATS) == list(EXPORTERS) and FORMATS[0] == "make"


def test_cli_writes_the_platformio_project_and_build_names_its_tool(tmp_path):
    import subprocess
    import sys

    model = tmp_path / "m.tflite"
    model.write_bytes(ZOO[MODEL]())

    def mcuforge(*args):
        return subprocess.run([sys.executable, "-m", "mcuforge", *map(str, args)], capture_output=True, text=True,
                              timeout=300)

    p = mcuforge("generate", model, "-b", "uno", "--format", "platformio", "-o", tmp_path / "fw")
    assert p.returncode == 0 and f"next: pio run -d {tmp_path / 'fw'}" in p.stdout, p.stderr
    p = mcuforge("build", tmp_path / "fw")
    assert p.returncode == 2 and "--format platformio" in p.stderr and "build it with pio run -d" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.simavr
def test_pio_upload_is_a_flash_method_through_optiboot(core, tmp_path, monkeypatch):
    """``pio run -t upload --upload-port PORT`` of the exported project, as the board's
    ``platformio`` flash method, puts the firmware on the simulated Uno through Optiboot (the
    local platform uploads with avrdude, as atmelavr does); the board then runs this project."""
    from mcuforge.boards import load_board
    from mcuforge.flash import get_backend

    data = ZOO[MODEL]()
    project = generate(data, "uno", tmp_path / "fw", fmt="platformio")
    work = offline_project(project.path, tmp_path / "offline", core["PLATFORMIO_PLATFORM"])
    p = pio(["run", "-d", str(work)], core)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    elf = work / ".pio" / "build" / "uno" / "firmware.elf"
    argv = get_backend("platformio", load_board("uno")).flash(work, load_board("uno"), port="/dev/ttyACM0", dry_run=True)
    assert argv == ["pio", "run", "-d", str(work), "-e", "uno", "-t", "upload", "--upload-port", "/dev/ttyACM0"]

    for k, v in core.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")  # the venv's pio
    x = make_inputs(load_tflite(data), 1, seed=3)[0]
    with open_session(elf, "uno", via_bootloader=True, uploader="platformio") as session:
        assert session.uploaded
        got, _ = session.link(expected_hash=project.firmware_hash).run([x[None]])
    want = TflmModel(data).run([x[None]])[0]
    np.testing.assert_array_equal(np.asarray(got[0]).reshape(want.shape), want)
