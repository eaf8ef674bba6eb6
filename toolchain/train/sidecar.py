"""The JSON written beside a saved .keras model (``model.keras`` -> ``model.json``): what the
generator needs that Keras does not keep (labels, feature config, training settings)."""
from __future__ import annotations

import json
from pathlib import Path


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
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:  # also a file that is not UTF-8
        raise ValueError(f"{meta_path}: not the JSON mcuforge writes beside the {what} model ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_path} is not {fmt} metadata (a JSON {type(meta).__name__}, not an object)")
    if meta.get("format") != fmt:
        raise ValueError(f"{meta_path} is not {fmt} metadata (format={meta.get('format')!r})")
    if meta.get("version") != version:
        raise ValueError(f"{meta_path}: metadata version {meta.get('version')} (this mcuforge reads {version})")
    return meta
