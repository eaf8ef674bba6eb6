"""RESHAPE (and SQUEEZE / EXPAND_DIMS): the same bytes seen with another shape.

Neutral attrs: none beyond the output tensor's shape (the front end may set ``shape``).
``ALIAS``: the planner gives the output the input's arena bytes, so no code runs. ``prepare``
drops extra inputs (a shape or axis tensor) so that no unused constant reaches the C code.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import tensor_in, tensor_out

KIND = "reshape"
TFLITE = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
INPUTS = ("input", "shape?")  # operand roles; '?' marks an optional one
ALIAS = True


def prepare(op: Op, graph: Graph) -> None:
    x, y = tensor_in(op, graph), tensor_out(op, graph)
    if x.size != y.size:
        raise ValueError(f"reshape from {x.shape} ({x.size} elements) to {y.shape} ({y.size} elements)")
    if x.dtype != y.dtype:
        raise ValueError(f"reshape cannot change the type ({x.dtype} -> {y.dtype})")
    del op.inputs[1:]


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(inputs[0]).reshape(tensor_out(op, graph).shape)]


def macs(op: Op, graph: Graph) -> int:
    return 0


def emit(op: Op, graph: Graph, ctx) -> str:
    return f"/* reshape {op.inputs[0]} -> {op.outputs[0]}: the output aliases the input's bytes */"
