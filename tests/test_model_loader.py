"""One call loads a model: validate and generate read a .tflite once (the generator takes the
loaded Model), and the Model carries the bytes the TFLM reference runs."""
from __future__ import annotations

import pytest

from models.zoo import ZOO
from mcuforge.model import Model, load
from mcuforge.model import tflite as tflite_reader


def test_load_accepts_path_bytes_graph_and_model(tmp_path):
    data = ZOO["dense_flatten"]()
    path = tmp_path / "kws_tiny.tflite"
    path.write_bytes(data)
    from_path, from_bytes = load(path), load(data)
    assert from_path.kind == from_bytes.kind == "tflite" and from_path.source == data
    assert from_path.name == "kws_tiny" and from_path.path == path
    assert load(from_path) is from_path
    assert load(from_bytes.graph).kind == "graph" and load(from_bytes.graph).graph is from_bytes.graph
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load(tmp_path / "missing.tflite")
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(ValueError, match="unknown model format '.onnx'"):
        load(tmp_path / "m.onnx")


@pytest.mark.qemu
def test_validate_reads_the_model_once(tmp_path, monkeypatch):
    from mcuforge.validation import validate

    calls = []
    real = tflite_reader.load_tflite
    monkeypatch.setattr(tflite_reader, "load_tflite", lambda *a, **k: calls.append(1) or real(*a, **k))
    path = tmp_path / "m.tflite"
    path.write_bytes(ZOO["dense_flatten"]())
    v = validate(path, "netduinoplus2", samples=2, workdir=tmp_path / "fw", progress=False)
    assert v.ok and len(calls) == 1
    assert isinstance(load(path), Model) and len(calls) == 2
