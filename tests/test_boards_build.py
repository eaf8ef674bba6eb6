"""Project layout (copy_platform + the Makefile exporter) and the build with its size report,
for every board, with the real Arm compiler."""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import pytest

from conftest import EMULATED_BOARDS, FAKE_MODEL, REAL_BOARDS, STAND_IN_BOARDS, make_fake_project
from mcuforge.boards import board_names, load_board
from mcuforge.build import BuildError, build, elf_sizes
from mcuforge.codegen.platform import PlatformError, render_arch_files
from mcuforge.project import ProjectError, copy_platform, project_include_dirs
from mcuforge.project.exporters.make import render_makefile
from mcuforge.flash import open_session

FAKE_ARENA = 1500 + 20 + 1500 + 4  # tests/fixtures/fake_model/model.c ARENA_BYTES


@pytest.mark.parametrize("board", EMULATED_BOARDS + list(STAND_IN_BOARDS) + REAL_BOARDS)
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


@pytest.mark.parametrize("board", EMULATED_BOARDS + ["stm32f746g-disco", "bluepill"])
def test_kernels_use_dsp_and_fpu_only_where_the_core_has_them(board, fake_firmware):
    """The Cortex-M3 (no DSP extension, no FPU) compiles every kernel to the portable C paths
    (soft-float calls); the M4 and M7 to SMLAD and VFP instructions."""
    b = load_board(board)
    objs = sorted((fake_firmware(board).project_dir / "build" / "obj" / "firmware" / "kernels").glob("*.o"))
    assert len(objs) > 10
    asm = subprocess.run([b.tool("objdump"), "-d", *map(str, objs)], capture_output=True, text=True,
                         check=True).stdout
    dsp = re.search(r"\t(smlad|sxtb16)\b", asm) is not None
    fpu = re.search(r"\tv(mul|add|cvt|div)\.f32\b", asm) is not None
    assert (dsp, fpu) == (b.core in ("cortex-m4", "cortex-m7"), b.fpu)
    assert ("__aeabi_fmul" in asm) == (not b.fpu)


def test_project_layout_and_makefile(tmp_path):
    srcs = copy_platform("netduinoplus2", tmp_path)
    for s in ("firmware/link/mf_link.c", "firmware/drivers/stm32-usart/mf_stm32_usart.c", "board/board.c", "mf_vectors.c",
              "firmware/runtime/arch/cortex-m/mf_cycles_cortexm.c",
              "firmware/runtime/arch/cortex-m/mf_uart_cortexm.c"):
        assert s in srcs and (tmp_path / s).is_file()
    assert not any(s.endswith("main.c") for s in srcs)  # the runtime library has no entry point
    assert (tmp_path / "board" / "board.json").is_file() and (tmp_path / "linker.ld").is_file()
    assert (tmp_path / "firmware" / "kernels" / "mf_quant.h").is_file()
    config = (tmp_path / "mf_config.h").read_text()
    for line in ('#define MF_BOARD_NAME "netduinoplus2"', "#define MF_BOARD_CLOCK_HZ 168000000u",
                 "#define MF_LINK_MAX_PAYLOAD 1024", "#define MF_UART_IRQ 37u", "#define MF_EXIT_SEMIHOSTING 1"):
        assert line in config, line
    mk = render_makefile("netduinoplus2", srcs + ["model/model.c"], ["model"])
    for flag in ("-O2", "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections", "-std=c99",
                 "-Wall -Wextra", "-Map=$(BUILD)/firmware.map", "-mfpu=fpv4-sp-d16",
                 "-T $(LDSCRIPT)", "LDSCRIPT := linker.ld", "build/firmware.elf"):
        assert flag.replace("build/", "$(BUILD)/") in mk or flag in mk, flag
    assert " -D" not in mk  # board facts come from mf_config.h
    assert re.search(r"^\s+model/model\.c", mk, re.M)
    # A board with a shared driver and no C of its own.
    srcs = copy_platform("mps2-an385", tmp_path / "m3")
    assert "firmware/drivers/cmsdk-uart/mf_cmsdk_uart.c" in srcs
    assert not any(s.startswith("board/") for s in srcs)


@pytest.mark.parametrize("board", board_names())
def test_linker_script_is_generated_from_board_json(board):
    b = load_board(board)
    files = render_arch_files(b)
    if b.arch != "cortex-m":
        return
    regions = {m[0]: (int(m[1], 16), int(m[2])) for m in
               re.findall(r"^\s+(\w+)\s+\(\w+\)\s+: ORIGIN = (0x[0-9a-fA-F]+), LENGTH = (\d+)$", files["linker.ld"], re.M)}
    assert regions == {"FLASH": (int(b.memory["flash"]["origin"], 16), b.flash_bytes),
                       "RAM": (int(b.memory["ram"]["origin"], 16), b.ram_bytes)}
    assert f"__stack_size = {b.stack_bytes};" in files["linker.ld"]
    assert files["mf_vectors.c"].count("/* IRQ ") == b.irq_count
    assert f"mf_uart_irq_handler, /* IRQ {b.uart['irq']} */" in files["mf_vectors.c"]


def test_board_without_what_its_arch_derives_is_named():
    bad = dataclasses.replace(load_board("mps2-an385"), memory={"flash": {"origin": "0x0"}})
    with pytest.raises(PlatformError, match=r"mps2-an385.*board.json lacks what linker.ld.j2 needs"):
        render_arch_files(bad)


@pytest.mark.qemu
def test_runtime_builds_with_another_entry_point(tmp_path):
    """The runtime library compiled by another build system: one compiler command, no Makefile,
    no -D flags, an Arduino-style setup()/loop() entry point; the board answers over the link."""
    board = load_board("mps2-an385")
    srcs = copy_platform(board, tmp_path) + ["model/model.c"]
    (tmp_path / "model").mkdir(exist_ok=True)
    for f in ("model.c", "model.h"):
        shutil.copy(FAKE_MODEL / f, tmp_path / "model" / f)
    (tmp_path / "mf_build_id.h").write_text('#define MF_BUILD_ID "0123456789abcdef"\n')
    (tmp_path / "sketch.c").write_text(
        '#include "mf_runtime.h"\n\nstatic void setup(void) { mf_runtime_start(); }\n'
        "static void loop(void) { mf_runtime_serve_once(); }\n\n"
        "int main(void)\n{\n    setup();\n    for (;;) {\n        loop();\n    }\n}\n")
    elf = tmp_path / "sketch.elf"
    argv = [board.tool("gcc"), *board.cflags, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
            *[f"-I{d}" for d in project_include_dirs(board)], *srcs, "sketch.c",
            *board.ldflags, "-T", "linker.ld", "-Wl,--gc-sections", "-lm", "-o", str(elf)]
    subprocess.run(argv, cwd=tmp_path, check=True, capture_output=True, text=True)
    with open_session(elf, board) as s:
        link = s.link()
        assert link.hello().board == "mps2-an385" and link.ping(b"sketch") == b"sketch"


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


def test_firmware_is_the_same_from_any_folder_with_or_without_ccache(tmp_path):
    """Debug info names sources from the project folder (-fdebug-prefix-map), so a project built
    elsewhere, and compiled afresh without ccache (`make CCACHE=`), gives the same ELF byte for byte:
    objects ccache reuses across projects are the ones the compiler would write."""
    assert shutil.which("ccache"), "make setup installs ccache"
    first = make_fake_project("netduinoplus2", tmp_path / "a")
    assert "ccache " in first.log
    moved = tmp_path / "elsewhere" / "b"
    shutil.copytree(first.project_dir, moved)
    subprocess.run(["make", "-C", str(moved), "clean"], check=True, capture_output=True)
    fresh = build(moved, extra_args=["CCACHE="])
    assert "ccache" not in fresh.log
    assert fresh.elf.read_bytes() == first.elf.read_bytes()
