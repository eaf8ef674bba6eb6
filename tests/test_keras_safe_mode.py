""".keras inputs are loaded without running code from the file: a Lambda layer or an unknown custom
object is refused by name with a ModelError (exit code 3), before Keras deserializes anything."""
from __future__ import annotations

import json

import keras
import pytest

from mcuforge.model import ModelError
from mcuforge.model.keras_bnn import check_keras_archive, load_bnn_keras
from mcuforge.train.bnn import FORMAT, FORMAT_VERSION


def _save(model, path):
    model.save(path)
    # metadata a BNN carries, so that only the model file's contents decide
    path.with_suffix(".json").write_text(json.dumps({"format": FORMAT, "version": FORMAT_VERSION}))
    return path


def test_lambda_layer_is_refused_by_name_and_never_runs(tmp_path):
    canary = tmp_path / "lambda-ran"
    touch = eval(f"lambda x: (__import__('pathlib').Path({str(canary)!r}).touch(), x)[1]")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(touch, name="double")])
    path = _save(model, tmp_path / "lambda.keras")
    canary.unlink()  # building the model ran it once, here in the test
    with pytest.raises(ModelError, match=r"lambda.keras: layer 'double': a Lambda layer holds Python code; .*safe mode"):
        load_bnn_keras(path)
    assert not canary.exists()


def test_unknown_custom_object_is_refused_by_name(tmp_path):
    @keras.saving.register_keras_serializable(package="elsewhere")
    class Unknown(keras.layers.Layer):
        def call(self, x):
            return x

    model = keras.Sequential([keras.Input((4,)), Unknown(name="mystery")])
    path = _save(model, tmp_path / "custom.keras")
    del keras.saving.get_custom_objects()["elsewhere>Unknown"]  # as in a process that never defined it
    with pytest.raises(ModelError, match=r"layer 'mystery': custom object 'elsewhere>Unknown' .* does not load"):
        load_bnn_keras(path)


def test_plain_keras_layers_pass_the_check(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="relu", name="d")])
    model.save(tmp_path / "plain.keras")
    check_keras_archive(tmp_path / "plain.keras")  # raises nothing


def test_not_an_archive_is_a_model_error(tmp_path):
    path = tmp_path / "broken.keras"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelError, match="not a Keras 3 .keras archive"):
        load_bnn_keras(path)
