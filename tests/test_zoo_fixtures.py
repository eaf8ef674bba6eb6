"""The zoo's .tflite files are checked in (tests/models/tflite/): every test on every machine
reads the same bytes. These checks keep the files honest: each is the one its manifest names,
and each builder is unchanged since its file was written."""
from __future__ import annotations

import hashlib
import json

import pytest

from models import zoo


def test_every_builder_has_a_file_and_every_file_a_builder():
    files = {p.stem for p in zoo.FIXTURES.glob("*.tflite")}
    assert files == set(zoo.BUILDERS)
    assert set(json.loads(zoo.MANIFEST.read_text())) == set(zoo.BUILDERS)


@pytest.mark.parametrize("name", sorted(zoo.BUILDERS))
def test_file_matches_its_manifest_and_builder(name):
    entry = json.loads(zoo.MANIFEST.read_text())[name]
    assert hashlib.sha256(zoo.ZOO[name]()).hexdigest() == entry["sha256"], "file differs from the manifest"
    assert zoo.builder_hash(zoo.BUILDERS[name]) == entry["builder"], (
        f"the builder of '{name}' changed: run '.venv/bin/python tests/models/zoo.py {name}'")
