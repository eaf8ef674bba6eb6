"""``generate -o DIR`` writes only the files it owns, inside DIR, and never mixes into a user's folder."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mcuforge.project import MANIFEST, OutputDirError, generate
from models.zoo import ZOO


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.tflite"
    path.write_bytes(ZOO["dense_flatten"]())
    return path


def tree(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def mcuforge(*args):
    return subprocess.run([sys.executable, "-m", "mcuforge", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_manifest_lists_exactly_the_files_written(model, tmp_path):
    p = generate(model, "netduinoplus2", tmp_path / "fw")
    files = set(tree(tmp_path / "fw"))
    assert set(p.manifest["files"]) | {MANIFEST} == files
    assert {"Makefile", "mf_build_id.h", "model/model.c", "board/board.c"} <= files
    assert not [f for f in os.listdir(tmp_path / "fw") if f.startswith(".mcuforge-staging")]


def test_a_users_folder_is_refused_and_left_untouched(model, tmp_path):
    user = tmp_path / "mine"
    (user / "notes").mkdir(parents=True)
    (user / "notes" / "todo.txt").write_text("my notes")
    (user / "Makefile").write_text("all:\n\techo mine\n")
    before = tree(user)
    with pytest.raises(OutputDirError, match="not empty and not an mcuforge project.*--force"):
        generate(model, "netduinoplus2", user)
    assert tree(user) == before and sorted(os.listdir(user)) == ["Makefile", "notes"]


def test_force_adds_only_its_files_and_hashes_only_them(model, tmp_path):
    clean = generate(model, "netduinoplus2", tmp_path / "clean")
    user = tmp_path / "mine"
    user.mkdir()
    (user / "data.bin").write_bytes(os.urandom(1 << 20))  # not read: the hash is the clean one
    (user / "model").mkdir()
    (user / "model" / "readme.txt").write_text("mine")
    p = generate(model, "netduinoplus2", user, force=True)
    assert p.firmware_hash == clean.firmware_hash
    assert "data.bin" not in p.manifest["files"] and "model/readme.txt" not in p.manifest["files"]
    assert (user / "model" / "readme.txt").read_text() == "mine" and (user / "data.bin").stat().st_size == 1 << 20


def test_regenerating_replaces_only_its_own_files(model, tmp_path):
    fw = tmp_path / "fw"
    generate(model, "netduinoplus2", fw)
    assert (fw / "board" / "board.c").exists() and (fw / "firmware" / "drivers" / "stm32-usart" / "stm32_usart.h").exists()
    (fw / "my_notes.txt").write_text("kept")
    (fw / "build").mkdir()
    (fw / "build" / "keep.o").write_bytes(b"obj")
    p = generate(model, "mps2-an386", fw)  # an mcuforge project: no --force needed
    assert p.board.name == "mps2-an386" and json.loads((fw / MANIFEST).read_text())["board"] == "mps2-an386"
    assert not (fw / "firmware" / "drivers" / "stm32-usart").exists()  # the old board's driver, no longer written
    assert (fw / "my_notes.txt").read_text() == "kept" and (fw / "build" / "keep.o").exists()
    assert set(tree(fw)) == set(p.manifest["files"]) | {MANIFEST, "my_notes.txt", "build/keep.o"}


def test_a_killed_generation_leaves_nothing_in_the_way(model, tmp_path):
    fw = tmp_path / "fw"
    (fw / ".mcuforge-staging-x1" / "model").mkdir(parents=True)  # what SIGKILL mid-generate leaves
    (fw / ".mcuforge-staging-x1" / "model" / "model.c").write_text("half")
    generate(model, "netduinoplus2", fw)
    assert not [p for p in os.listdir(fw) if p.startswith(".mcuforge-staging")]


def test_a_forged_manifest_cannot_delete_outside_the_project(model, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / MANIFEST).write_text(json.dumps({"generator": "mcuforge 0", "files": ["../outside.txt", str(outside)]}))
    generate(model, "netduinoplus2", fw)
    assert outside.read_text() == "precious"


def test_a_symlinked_folder_inside_is_not_followed(model, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / "firmware").symlink_to(outside, target_is_directory=True)
    with pytest.raises(OutputDirError, match="symbolic link"):
        generate(model, "netduinoplus2", fw, force=True)
    assert list(outside.iterdir()) == []
    assert sorted(os.listdir(fw)) == ["firmware"]  # nothing written at all


def test_cli_refuses_root_a_file_and_a_users_folder_with_exit_2(model, tmp_path):
    root_before = sorted(os.listdir("/"))
    for extra in ([], ["--force"]):
        p = mcuforge("generate", model, "-o", "/", *extra)
        assert p.returncode == 2 and "refusing to write a project into /" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr
    assert sorted(os.listdir("/")) == root_before

    f = tmp_path / "file.txt"
    f.write_text("x")
    p = mcuforge("generate", model, "-o", f)
    assert p.returncode == 2 and "is a file, not a folder" in p.stderr and "Traceback" not in p.stderr
    assert f.read_text() == "x"

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.txt").write_text("a")
    p = mcuforge("generate", model, "-o", tmp_path / "mine")
    assert p.returncode == 2 and "--force" in p.stderr
    assert mcuforge("generate", model, "-o", tmp_path / "mine", "--force").returncode == 0
    assert (tmp_path / "mine" / "a.txt").read_text() == "a"
