"""Reading the JSON files mcuforge writes beside models (sidecars, features configs) back safely."""
from __future__ import annotations

import json
from pathlib import Path


def read_object(path: str | Path, what: str) -> dict:
    """The JSON object in ``path``; anything else is a ValueError naming the file as ``what``
    (e.g. "a features config")."""
    try:
        d = json.loads(Path(path).read_text())
    except ValueError as exc:  # also a file that is not UTF-8
        raise ValueError(f"{path} is not {what} (not JSON: {exc})") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path} is not {what} (a JSON {type(d).__name__}, not an object)")
    return d
