"""SHA-256 of a file and of a folder tree, read in blocks (datasets and firmware trees can be large).

A tree's digest covers, for every file in sorted path order, its path relative to the root and its
bytes: ``path \\0 bytes \\0``. The project manifest's firmware hash and the BNN cache's dataset
key both come from here, so the two cannot drift apart."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

BLOCK = 1 << 20


def file_sha256(path, h=None):
    """``h`` (a new SHA-256 if None) updated with the bytes of ``path``."""
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            h.update(block)
    return h


def tree_sha256(root, skip: Callable[[str], bool] = lambda rel: False) -> str:
    """Hex SHA-256 of every file under ``root`` whose path relative to it (POSIX) ``skip`` does
    not reject. Paths sort as pathlib sorts them (part by part)."""
    root = Path(root)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not skip(rel):
            h.update(rel.encode() + b"\0")
            file_sha256(p, h)
            h.update(b"\0")
    return h.hexdigest()
