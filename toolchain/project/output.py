"""Writing a project into the folder the user named, and nowhere else: refuse a folder that is
not ours, stage every file first (so nothing is touched if generation fails, and the hash covers
exactly what is written), move the staged files in, remove the old project's stale files."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from .manifest import MANIFEST, find_manifest

STAGING_PREFIX = ".mcuforge-staging-"  # a generation in progress (or one killed half-way)


class OutputDirError(ValueError):
    """``-o`` names a place ``generate`` will not write into."""


def check_out_dir(out: Path, force: bool = False) -> dict | None:
    """Refuse an output folder that is not ours to fill; returns the manifest of the mcuforge
    project already there (None for a new or empty folder)."""
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"-o {out}: is a file, not a folder; name a new or empty folder for the project")
    resolved = out.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise OutputDirError(f"-o {out}: refusing to write a project into {resolved} itself; "
                             "name a new folder for it, e.g. -o fw/")
    if not out.is_dir():
        return None
    manifest = find_manifest(out)
    for p in out.glob(STAGING_PREFIX + "*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)  # left by a generation that was killed
    if manifest is None and any(out.iterdir()) and not force:
        raise OutputDirError(f"-o {out}: the folder is not empty and not an mcuforge project (no {MANIFEST}); "
                             "name a new or empty folder, or add --force to write mcuforge's files beside yours")
    return manifest


@contextlib.contextmanager
def staging(out: Path):
    """A fresh staging folder inside ``out`` (same file system: files move in by rename),
    removed afterwards; ``out`` itself is removed again if it was made here and stays empty."""
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
    except OSError as e:
        raise OutputDirError(f"-o {out}: cannot write there ({e.strerror})") from None
    try:
        yield stage
    except BaseException:
        if created:
            shutil.rmtree(stage, ignore_errors=True)
            with contextlib.suppress(OSError):
                out.rmdir()  # only if still empty
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def owned_files(out: Path, manifest: dict | None) -> list[str]:
    """The files an earlier generation listed as its own (paths inside ``out`` only)."""
    files = (manifest or {}).get("files") or []
    return [f for f in files if isinstance(f, str) and _inside(f)]


def _inside(rel: str) -> bool:
    parts = Path(rel).parts
    return bool(parts) and not Path(rel).is_absolute() and ".." not in parts


def _check_no_links(out: Path, rel: str) -> None:
    """Writing ``out/rel`` must not leave ``out``: no folder on the way may be a symbolic link."""
    p = out
    for part in Path(rel).parts[:-1]:
        p = p / part
        if p.is_symlink() or (p.exists() and not p.is_dir()):
            raise OutputDirError(f"{p} is {'a symbolic link' if p.is_symlink() else 'a file'} where the project "
                                 "needs a folder; mcuforge writes only inside the folder you named")
    if (out / rel).is_dir() and not (out / rel).is_symlink():
        raise OutputDirError(f"{out / rel} is a folder where the project writes a file")


def install(stage: Path, out: Path, files: list[str], stale: list[str]) -> None:
    """Move the staged files into ``out`` and remove the old project's files no longer written."""
    for rel in files + stale:
        _check_no_links(out, rel)  # all checked before the first file moves
    for rel in files:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / rel, out / rel)
    keep = set(files)
    for rel in stale:
        if rel not in keep and ((out / rel).is_file() or (out / rel).is_symlink()):
            (out / rel).unlink()
            parent = (out / rel).parent
            while parent != out and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
