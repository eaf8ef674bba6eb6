"""Project layout (copy_platform + Makefile template) and the build with its size report,
for every board, with the real Arm compiler."""
from __future__ import annotations

import re
import subprocess

import pytest

from conftest import EMULATED_BOARDS, FAKE_MODEL, make_fake_project
from mcuforge.boards import load_board
from mcuforge.build import BuildError, ProjectError, copy_platform, elf_sizes, render_makefile

FAKE_ARENA = 1500 + 20 + 1500 + 4  # tests/fixtures/fake_model/model.c ARENA_BYTES


@pytest.mark.parametrize("board", EMULATED_BOARDS)
def test_build_fake_model_and_sizes(board, fake_firmware):
    b = load_board(board)
    r = fake_firmware(board)
    assert r.elf.is_file() and r.map_file.is_file()
    assert (r.elf.parent / "firmware.bin").is_file() and (r.elf.parent / "firmware.hex").is_file()
    assert r.arena == FAKE_ARENA
    assert r.stack == b.stack_bytes
    assert r.bss >= r.arena and r.text > 1000 and r.rodata > 0
    assert r.flash_bytes == r.text + r.rodata + r.data <= b.flash_bytes
    assert r.ram_bytes == r.data + r.bss + r.stack <= b.ram_bytes
    # cross-check with binutils' Berkeley format: text = code+constants, bss = bss+stack
    out = subprocess.run([b.tool("size"), str(r.elf)], capture_output=True, text=True, check=True)
    text, data, bss = (int(x) for x in out.stdout.splitlines()[1].split()[:3])
    assert (text, data, bss) == (r.text + r.rodata, r.data, r.bss + r.stack)
    assert elf_sizes(r.elf) == r.sizes


def test_project_layout_and_makefile(tmp_path):
    srcs = copy_platform("netduinoplus2", tmp_path)
    for s in ("firmware/runtime/main.c", "firmware/link/mf_link.c", "board/startup.c",
              "board/uart.c", "firmware/runtime/arch/cortex-m/mf_cycles_cortexm.c"):
        assert s in srcs and (tmp_path / s).is_file()
    assert (tmp_path / "board" / "board.json").is_file()
    assert (tmp_path / "firmware" / "kernels" / "mf_quant.h").is_file()
    assert (tmp_path / "firmware" / "runtime" / "arch" / "cortex-m" / "cortex-m-sections.ld").is_file()
    mk = render_makefile("netduinoplus2", srcs + ["model/model.c"], ["model"])
    for flag in ("-O2", "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections", "-std=c99",
                 "-Wall -Wextra", "-Map=$(BUILD)/firmware.map", "-mfpu=fpv4-sp-d16",
                 "-DMF_LINK_MAX_PAYLOAD=1024", "__stack_size=8192", "build/firmware.elf"):
        assert flag.replace("build/", "$(BUILD)/") in mk or flag in mk, flag
    assert re.search(r"^\s+model/model\.c", mk, re.M)


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(ProjectError, match="no_such_ext"):
        copy_platform("mps2-an386", tmp_path, extensions=["no_such_ext"])
    with pytest.raises(ProjectError, match="bad extension name"):
        copy_platform("mps2-an386", tmp_path, extensions=["../x"])
    with pytest.raises(ProjectError, match="a .c path"):
        render_makefile("mps2-an386", ["my model.c"], [])
    with pytest.raises(BuildError, match="no Makefile"):
        from mcuforge.build import build
        build(tmp_path / "empty")


def test_compile_error_shows_compiler_output(tmp_path):
    broken = (FAKE_MODEL / "model.c").read_text().replace("return 0;\n}", "return undefined_thing;\n}")
    with pytest.raises(BuildError) as e:
        make_fake_project("mps2-an386", tmp_path, model_c=broken)
    assert "undefined_thing" in str(e.value) and "model/model.c" in str(e.value)


def test_warnings_are_errors(tmp_path):
    noisy = (FAKE_MODEL / "model.c").read_text().replace(
        "int mf_model_invoke(void)\n{", "int mf_model_invoke(void)\n{\n    int unused_var;")
    with pytest.raises(BuildError, match="unused_var"):
        make_fake_project("mps2-an386", tmp_path, model_c=noisy)


def test_arena_too_big_for_ram_fails_at_link(tmp_path):
    huge = (FAKE_MODEL / "model.c").read_text().replace(
        "#define ARENA_BYTES (", "#define ARENA_BYTES (200000u + ")
    with pytest.raises(BuildError, match="overflowed|will not fit"):
        make_fake_project("netduinoplus2", tmp_path, model_c=huge)
