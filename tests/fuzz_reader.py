"""Coverage-guided fuzz target for the TFLite reader (atheris, libFuzzer's engine for Python).

Every input is read, shape-folded, converted and lowered (``load_tflite``); a ModelError is the
expected refusal, any other exception is a crash (libFuzzer stops and writes the input as
``crash-<sha1>``). The seed corpus is tests/corpus/reader (coverage-minimized inputs kept from
earlier runs) and the zoo's models (tests/models/tflite). The suite runs a bounded number of
executions (tests/test_fuzz_reader.py); ``python -m bench fuzz`` runs 10^6. Longer runs:

    mkdir -p /tmp/reader-corpus
    .venv/bin/python tests/fuzz_reader.py -max_total_time=3600 -max_len=8192 \\
        -artifact_prefix=/tmp/reader- /tmp/reader-corpus tests/corpus/reader tests/models/tflite
    # new inputs land in the first folder (never in tests/); keep the ones that add coverage with
    .venv/bin/python tests/fuzz_reader.py -merge=1 tests/corpus/reader /tmp/reader-corpus
    # replay one input (no fuzzing):  .venv/bin/python tests/fuzz_reader.py /tmp/reader-crash-...

``-jobs=N -workers=N`` runs N processes; ``-seed=S -runs=N`` makes a run repeatable.
"""
from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["mcuforge", "flatbuffers"]):
    from mcuforge import ops
    from mcuforge.model import ModelError
    from mcuforge.model.tflite import load_tflite

    ops.supported()  # the op modules load on first use: import them here, so they are instrumented too


def test_one_input(data: bytes) -> None:
    try:
        load_tflite(data)
    except ModelError:
        pass  # the refusal a bad model gets


def main(argv: list[str]) -> None:
    # libFuzzer re-runs argv[0] through the shell for -merge and -jobs: name the interpreter too.
    atheris.Setup([f"{sys.executable} {Path(__file__).resolve()}", *argv[1:]], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
