"""The user's cache folder for things mcuforge builds once and reuses: $XDG_CACHE_HOME/mcuforge
(default ~/.cache/mcuforge). Entries are keyed by what made them, so a change rebuilds them."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mcuforge"
