"""A pretrained BNN built once and kept in the user's cache folder (``mcuforge.usercache``), so a
second ``mcuforge demo`` does not spend half an hour pretraining the same network again.

An entry is keyed by the dataset's content (every file's path and bytes), the training config
and the source of the code that trains it (every module under ``TRAINING_CODE``) with the Keras
and TensorFlow versions: any change trains a new one. An entry is a folder ``bnn/<key>/`` holding
``bnn.keras``, its ``bnn.json`` and ``entry.json`` (the key, the config and both files' SHA-256),
written under a temporary name and renamed when complete. An entry whose ``entry.json`` is
missing, unreadable or does not match its files (a killed run, a disk error) is removed and
trained again.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from importlib import metadata
from pathlib import Path
from typing import Callable

from ..treehash import file_sha256, tree_sha256
from ..usercache import cache_dir

ENTRY = "entry.json"
MODEL = "bnn.keras"
FILES = (MODEL, "bnn.json")
_ROOT = Path(__file__).resolve().parent.parent
# The packages whose code decides the trained weights (the network, its training, the data it reads):
# every .py file in them is hashed, so a new module cannot be left out of the key.
TRAINING_CODE = ("train/", "data/")


def dataset_hash(data_dir) -> str:
    """SHA-256 over every file of the dataset folder (relative path and content, in sorted order)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    return tree_sha256(root)


def _not_training_code(rel: str) -> bool:
    return not (rel.startswith(TRAINING_CODE) and rel.endswith(".py"))


def code_hash() -> str:
    """SHA-256 of the training code (every .py file under ``TRAINING_CODE``, with its path) and the
    Keras/TensorFlow versions."""
    h = hashlib.sha256(tree_sha256(_ROOT, skip=_not_training_code).encode())
    for dist in ("keras", "tensorflow-cpu", "tensorflow"):
        try:
            h.update(f"{dist}={metadata.version(dist)}\0".encode())
        except metadata.PackageNotFoundError:
            pass
    return h.hexdigest()


def cache_key(data_dir, config: dict) -> str:
    text = json.dumps({"data": dataset_hash(data_dir), "config": config, "code": code_hash()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def entry_ok(entry: Path) -> bool:
    """The entry is complete and its files are the ones written (hashes in entry.json)."""
    try:
        info = json.loads((entry / ENTRY).read_text())
        return all(file_sha256(entry / name).hexdigest() == info["sha256"][name] for name in FILES)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def copy_to_workdir(model: Path, work) -> Path:
    """``model`` and its .json copied into ``work`` (unless already there) -> the copy's path: the
    demo leaves its BNN where bench and 'mcuforge learn' look (WORKDIR/bnn.keras), and nothing
    outside the cache can change a sealed entry."""
    dest = Path(work) / MODEL
    if Path(model).resolve() != dest.resolve():
        dest.parent.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copyfile(Path(model).parent / name, dest.parent / name)
    return dest


def cached_bnn(data_dir, config: dict, train: Callable[[Path], None], *, root=None, fallback=None,
               say: Callable[[str], None] = lambda msg: None) -> tuple[Path, bool]:
    """The cached BNN for ``data_dir`` and ``config`` -> (path of its .keras, True if it was in the
    cache). On a miss (or a damaged entry) ``train(path)`` writes the .keras and its .json at
    ``path``; the entry is sealed and moved into place only once both are complete. When the cache
    folder cannot be made (read-only, or under a file) the BNN is trained at ``fallback`` instead,
    outside the cache (without a ``fallback``, the OSError is raised)."""
    base = Path(root) if root is not None else cache_dir() / "bnn"
    key = cache_key(data_dir, config)
    entry = base / key
    if entry_ok(entry):
        say(f"pretrained BNN from the cache: {entry}")
        return entry / MODEL, True
    if entry.exists():
        say(f"cache entry {entry} is damaged or incomplete: training it again")
        shutil.rmtree(entry, ignore_errors=True)
    tmp = base / f".{key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
    except OSError as err:
        if fallback is None:
            raise
        fallback = Path(fallback)
        say(f"cannot write the BNN cache in {base} ({err.strerror or err}): training in {fallback.parent} "
            "without the cache")
        fallback.parent.mkdir(parents=True, exist_ok=True)
        train(fallback)
        return fallback, False
    try:
        train(tmp / MODEL)
        sums = {name: file_sha256(tmp / name).hexdigest() for name in FILES}
        (tmp / ENTRY).write_text(json.dumps({"key": key, "config": config, "sha256": sums}, indent=1) + "\n")
        try:
            os.rename(tmp, entry)
        except OSError:  # another process sealed the same entry first: keep that one
            if not entry_ok(entry):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"pretrained BNN cached in {entry}")
    return entry / MODEL, False
