"""One call loads a model: ``load(model) -> Model``, the graph and everything that travels
with it, read (and for a BNN, folded) exactly once however many steps use it.

Accepts a path (``.tflite`` int8 model, ``.keras`` BNN made with mcuforge's binary layers),
raw ``.tflite`` bytes, a Graph, or a Model (returned as is).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..graph.ir import Graph

FORMATS = (".tflite int8 models, .keras BNNs made with mcuforge's binary layers, .rnn.keras time-series "
           "classifiers of mcuforge train rnn")


@dataclass
class Model:
    graph: Graph
    # A BNN keyword spotter's device-side parts: labels, feature config, learning head.
    meta: dict | None = None
    # The .tflite file's bytes: what the TFLM host reference runs (None for other formats).
    source: bytes | None = None
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def kind(self) -> str:
        """"tflite", "bnn" (a folded .keras BNN), "rnn" (one step of a .rnn.keras classifier;
        the windowing is a firmware extension) or "graph" (built in Python)."""
        if self.source is not None:
            return "tflite"
        if self.meta is None:
            return "graph"
        return "rnn" if self.meta.get("kind") == "rnn" else "bnn"


def load(model) -> Model:
    if isinstance(model, Model):
        return model
    if isinstance(model, Graph):
        return Model(model)
    if isinstance(model, (bytes, bytearray)):
        from .tflite import load_tflite

        data = bytes(model)
        return Model(load_tflite(data), source=data)
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.name.endswith(".rnn.keras") or path.suffix == ".keras" and _sidecar_format(path) == "mcuforge-rnn":
        from .keras_rnn import load_rnn_keras

        graph, meta = load_rnn_keras(path)
        return Model(graph, meta=meta, path=path)
    if path.suffix == ".keras":
        from .keras_bnn import load_bnn_keras

        graph, meta = load_bnn_keras(path)
        _name_after(graph, path)
        return Model(graph, meta=meta, path=path)
    if path.suffix == ".tflite":
        from .tflite import load_tflite

        data = path.read_bytes()
        graph = load_tflite(data)
        _name_after(graph, path)
        return Model(graph, source=data, path=path)
    raise ValueError(f"{path}: unknown model format '{path.suffix}' (supported: {FORMATS})")


def _sidecar_format(path: Path) -> str | None:
    """The ``format`` of the JSON saved beside a .keras model (None if absent or unreadable:
    the BNN front end then names the problem)."""
    import json

    try:
        meta = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("format") if isinstance(meta, dict) else None


def _name_after(graph: Graph, path: Path) -> None:
    if not graph.name or graph.name in ("main", "model"):
        graph.name = path.stem
