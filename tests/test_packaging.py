"""pyproject.toml's package list: every folder of toolchain/ that ships files is listed (a folder
left out would be missing from a wheel, and setuptools warns on every install)."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_toolchain_folder_is_a_listed_package():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    src = ROOT / cfg["package-dir"]["mcuforge"]
    folders = {"mcuforge." + ".".join(d.relative_to(src).parts) if d != src else "mcuforge"
               for d in [src, *src.rglob("*")] if d.is_dir() and d.name != "__pycache__"
               and any(f.is_file() for f in d.iterdir())}
    assert folders == set(cfg["packages"])
    for package, files in cfg.get("package-data", {}).items():
        where = src.joinpath(*package.split(".")[1:])
        assert package in cfg["packages"] and all(list(where.glob(f)) for f in files), package
