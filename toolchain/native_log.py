"""What TensorFlow's and TFLM's C++ code writes to the process's stderr, kept off the user's screen.

Both write to file descriptor 2 directly, past Python's ``sys.stderr``: TFLM its errors and arena
report (read back by ``captured_stderr``), TensorFlow a screenful of start-up notes on import (no
CUDA here, which CPU instructions it was built for) and log lines while it trains and converts.
The command line calls ``quiet_tensorflow()`` once: TensorFlow's own log level then hides its C++
logging (errors still raise Python exceptions) and its Python logger's warnings; the notes printed
on import, before that level applies, are dropped (shown if the import fails). ``MCUFORGE_TF_LOG=1``
shows everything, as a library user importing mcuforge sees it.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import sys
import tempfile
from typing import Iterator

SHOW_ENV = "MCUFORGE_TF_LOG"
# The packages whose import loads TensorFlow's C++ runtime (keras loads TensorFlow as its backend).
NOISY_IMPORTS = ("tensorflow", "keras", "tflite_micro")


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Redirect fd 2 to a temporary file; yields a list that receives the text written there, on exit."""
    out: list[str] = []
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))


class _QuietLoader(importlib.abc.Loader):
    """Runs another loader's module code with fd 2 captured: shown only if the import fails."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        text: list[str] = []
        try:
            with captured_stderr() as text:
                self._loader.exec_module(module)
        except BaseException:
            sys.stderr.write("".join(text))  # the notes may explain the failure
            raise

    def __getattr__(self, name):  # get_resource_reader, is_package, ...: the real loader's
        return getattr(self._loader, name)


class _QuietImports(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name not in NOISY_IMPORTS:
            return None
        sys.meta_path.remove(self)  # let the other finders find the real package
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow() -> None:
    """For the command line, before anything imports TensorFlow (unless ``MCUFORGE_TF_LOG`` is set)."""
    if os.environ.get(SHOW_ENV):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # read by TensorFlow when it loads
    # Its Python logger's warnings (tf.function retracing, ...) are for TensorFlow's developers; errors still show.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if not any(isinstance(f, _QuietImports) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImports())

