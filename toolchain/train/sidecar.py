"""The JSON written beside a saved .keras model (``model.keras`` -> ``model.json``): what the
generator needs that Keras does not keep (labels, feature config, training settings)."""
from __future__ import annotations

import json
from pathlib import Path

from ..jsonfile import read_object


def write_sidecar(path, meta: dict) -> Path:
    out = Path(path).with_suffix(".json")
    out.write_text(json.dumps(meta, indent=1, default=float) + "\n")
    return out


def read_sidecar(path, fmt: str, version: int, what: str) -> dict:
    """The metadata beside ``path``, checked to be ``fmt`` version ``version`` (``what`` names
    the model kind in errors, e.g. "BNN")."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    for p in (path, meta_path):
        if not p.is_file():
            raise FileNotFoundError(f"{what} file not found: {p}")
    meta = read_object(meta_path, f"{fmt} metadata")
    if meta.get("format") != fmt:
        raise ValueError(f"{meta_path} is not {fmt} metadata (format={meta.get('format')!r})")
    if meta.get("version") != version:
        raise ValueError(f"{meta_path}: metadata version {meta.get('version')} (this mcuforge reads {version})")
    return meta
