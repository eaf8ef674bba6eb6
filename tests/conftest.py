"""Shared test helpers. Nothing skips: a test that needs QEMU, the Arm compiler or espeak-ng
fails when they are missing, and tests/no_skips.py turns any skip into a failure."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FAKE_MODEL = Path(__file__).resolve().parent / "fixtures" / "fake_model"
# Every board QEMU emulates (test_boards checks none is missing): the whole zoo validates on each.
EMULATED_BOARDS = ["netduinoplus2", "mps2-an386", "mps2-an385", "mps2-an500"]
# Real boards QEMU runs on the machine of another part of their family (the same core and link
# USART; board.json emulator.machine), by that machine: each builds and runs the link there, and
# tests/test_stm32_boards.py validates one end to end (the zoo runs on the machine's own board).
STAND_IN_BOARDS = {"nucleo-f401re": "netduinoplus2", "nucleo-f446re": "netduinoplus2"}
# Boards with no emulator of their part: built in the suite, their flashing tools run without a
# probe (tests/test_flash_tools.py); the firmware runs only on the board.
REAL_BOARDS = ["nucleo-l476rg", "stm32f746g-disco", "bluepill"]
# One board per UART driver (STM32 USART, CMSDK UART): the link tests run on these; the other
# boards share their driver and the common Cortex-M code, and run the link in every validate.
UART_BOARDS = ["netduinoplus2", "mps2-an386"]

pytest_plugins = ["no_skips"]


def make_fake_project(board: str, dest: Path, build_id: str = "0123456789abcdef",
                      extensions=(), model_c: str | None = None):
    """Lay out a project around the hand-written fake model (tests/fixtures/fake_model)
    and build it; returns the BuildResult."""
    from mcuforge.build import build
    from mcuforge.project import copy_platform, project_include_dirs
    from mcuforge.project.exporters.make import write_makefile

    (dest / "model").mkdir(parents=True, exist_ok=True)
    shutil.copy(FAKE_MODEL / "model.h", dest / "model" / "model.h")
    if model_c is None:
        shutil.copy(FAKE_MODEL / "model.c", dest / "model" / "model.c")
    else:
        (dest / "model" / "model.c").write_text(model_c)
    (dest / "mf_build_id.h").write_text(
        f'#ifndef MF_BUILD_ID_H\n#define MF_BUILD_ID_H\n#define MF_BUILD_ID "{build_id}"\n#endif\n')
    sources = copy_platform(board, dest, extensions=extensions) + ["model/model.c"]
    write_makefile(dest, board, sources, project_include_dirs(board, extensions))
    return build(dest)


@pytest.fixture(scope="session")
def fake_firmware(tmp_path_factory):
    """fake_firmware(board) -> BuildResult of the fake model for that board (built once)."""
    cache: dict[str, object] = {}

    def get(board: str):
        if board not in cache:
            cache[board] = make_fake_project(board, tmp_path_factory.mktemp(f"fake-{board}"))
        return cache[board]

    return get


def default_sigint() -> None:
    """``preexec_fn`` for a CLI a test interrupts: SIGINT handled as from a terminal. A child
    inherits an ignored SIGINT (some test worker processes run with it ignored), and a Python
    started with SIGINT ignored never raises KeyboardInterrupt."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
