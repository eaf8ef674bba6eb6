"""The TFLM Python interpreter (``tflite-micro`` package) as the ground truth for validation.

``TflmModel(bytes).run(inputs)`` keeps one interpreter for many samples; ``tflm_run`` is the
one-shot form. TFLM reports errors and arena use only on the process's stderr from C++, so
both are captured at the file-descriptor level and put into exceptions / return values.
"""
from __future__ import annotations

import re

import numpy as np

from ..model.errors import ModelError
from ..native_log import captured_stderr


class TflmModel:
    """One TFLM interpreter over a .tflite flatbuffer."""

    def __init__(self, tflite_bytes: bytes, arena_size: int | None = None, keep_all_tensors: bool = False):
        """``keep_all_tensors`` makes every intermediate readable (:meth:`run_all`); TFLM then
        does not record arena use (:meth:`arena_report` needs the default)."""
        from tflite_micro.python.tflite_micro import runtime

        self._bytes = bytes(tflite_bytes)
        if arena_size is None:
            arena_size = default_arena_size(self._bytes)
        config = (runtime.InterpreterConfig.kPreserveAllTensors if keep_all_tensors
                  else runtime.InterpreterConfig.kAllocationRecording)
        self.keep_all_tensors = keep_all_tensors
        log: list[str] = []
        try:
            with captured_stderr() as log:
                self._interp = runtime.Interpreter.from_bytes(self._bytes, arena_size=arena_size,
                                                              intrepreter_config=config)
        except Exception as exc:
            raise ModelError(f"TFLM could not load the model: {exc}; TFLM says: {''.join(log).strip()}") from exc
        self.input_details = [self._interp.get_input_details(i) for i in range(self._count("input"))]
        self.output_details = [self._interp.get_output_details(i) for i in range(self._count("output"))]

    def _count(self, kind: str) -> int:
        from tflite_micro.python.tflite_micro import runtime

        model = runtime.convert_bytearray_to_object(bytearray(self._bytes))
        sub = model.subgraphs[0]
        return len(sub.inputs if kind == "input" else sub.outputs)

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) != len(self.input_details):
            raise ValueError(f"model has {len(self.input_details)} inputs, got {len(inputs)}")
        log: list[str] = []
        try:
            with captured_stderr() as log:
                for i, (x, d) in enumerate(zip(inputs, self.input_details)):
                    arr = np.asarray(x, dtype=d["dtype"]).reshape(tuple(d["shape"]))
                    self._interp.set_input(arr, i)
                self._interp.invoke()
        except Exception as exc:
            raise RuntimeError(f"TFLM invoke failed: {exc}; TFLM says: {''.join(log).strip()}") from exc
        return [np.array(self._interp.get_output(i)) for i in range(len(self.output_details))]

    def run_all(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Run, then read every non-constant tensor, keyed by the names ``load_tflite`` gives
        them (for layer-by-layer comparison with :func:`mcuforge.reference.run_graph_all`)."""
        if not self.keep_all_tensors:
            raise RuntimeError("TflmModel(..., keep_all_tensors=True) is needed to read intermediate tensors")
        from ..model.tflite import read_raw

        self.run(inputs)
        raw = read_raw(self._bytes)
        values = {}
        for index, (name, t) in enumerate(raw.tensors.items()):  # read_raw keeps flatbuffer order
            if t.is_const or not t.shape:
                continue
            d = self._interp.GetTensor(index, 0)
            values[name] = np.asarray(d["tensor_data"]).reshape(tuple(d["shape"]))
        return values

    def arena_report(self) -> dict[str, int]:
        """TFLM's arena use in bytes: ``total`` (what the arena must hold), ``head`` (tensor
        buffers planned per inference), ``tail`` (persistent structures)."""
        if self.keep_all_tensors:
            raise RuntimeError("TFLM records arena use only without keep_all_tensors")
        log: list[str] = []
        with captured_stderr() as log:
            self._interp.print_allocations()
        text = "".join(log)
        report = {}
        for key in ("total", "head", "tail"):
            m = re.search(rf"Arena allocation {key} (\d+) bytes", text)
            if not m:
                raise RuntimeError(f"could not parse TFLM's arena report:\n{text}")
            report[key] = int(m.group(1))
        return report


def default_arena_size(tflite_bytes: bytes) -> int:
    """Generous arena for the interpreter: TFLM's 10x-model-size default can be smaller than a
    small model's activations, and a too-small arena may crash the process instead of failing."""
    from ..model.tflite import read_raw

    graph = read_raw(tflite_bytes)
    activations = sum(int(np.prod(t.shape)) * 4 for t in graph.tensors.values() if not t.is_const)
    return max(10 * len(tflite_bytes), 4 * activations + 64 * 1024)


def tflm_run(tflite_bytes: bytes, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run one inference with TFLM's interpreter (a fresh interpreter per call)."""
    return TflmModel(tflite_bytes).run(inputs)


def tflm_arena(tflite_bytes: bytes) -> dict[str, int]:
    """TFLM's arena for the model in this process's (x86-64 host) build: ``activations`` (the
    tensor buffers it plans per inference: what mcuforge's arena holds, the like-for-like number),
    ``persistent`` (its interpreter structures, pointer-size dependent: larger on a 64-bit host
    than on a Cortex-M) and ``total``, their sum."""
    model = TflmModel(tflite_bytes)
    zeros = [np.zeros(tuple(d["shape"]), dtype=d["dtype"]) for d in model.input_details]
    model.run(zeros)  # allocations are complete after the first invoke
    r = model.arena_report()
    return {"activations": r["head"], "persistent": r["tail"], "total": r["total"]}


def tflm_arena_bytes(tflite_bytes: bytes) -> int:
    """Total arena TFLM uses for the model on the x86-64 host (activations + its persistent
    structures); see :func:`tflm_arena` for the parts."""
    return tflm_arena(tflite_bytes)["total"]
