"""Max pooling, int8 NHWC (TFLM reference_integer_ops::MaxPool).

Neutral attrs (front end): ``filter=(h, w)``, ``stride=(h, w)``, ``padding="same"|"valid"``,
``activation``. ``prepare`` adds ``pad=(top, left)``, ``act_min``, ``act_max``.
Padded pixels never win: the maximum is taken over the in-bounds window only.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _pooling
from ._checks import ensure_prepared, tensor_in, tensor_out
from ._cparams import params_struct

KIND = "max_pool2d"
TFLITE = ("MAX_POOL_2D",)
INPUTS = ("input",)  # operand roles; '?' marks an optional one


def prepare(op: Op, graph: Graph) -> None:
    _pooling.prepare_pool(op, graph)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "pad", prepare)
    x = np.asarray(inputs[0]).reshape(tensor_in(op, graph).shape).astype(np.int64)
    # An empty window leaves -128, as TFLM's loop does.
    y = np.full(tensor_out(op, graph).shape, -128, dtype=np.int64)
    for oy, ox, y0, y1, x0, x1 in _pooling.windows(op, graph):
        if y1 > y0 and x1 > x0:
            y[:, oy, ox, :] = x[:, y0:y1, x0:x1, :].max(axis=(1, 2))
    y = np.clip(y, op.attrs["act_min"], op.attrs["act_max"])
    return [y.astype(np.int8)]


def macs(op: Op, graph: Graph) -> int:
    ensure_prepared(op, graph, "pad", prepare)
    return _pooling.window_ops(op, graph)


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "pad", prepare)
    params = params_struct(ctx, "mf_max_pool2d_params", _pooling.c_fields(op, graph))
    return f"mf_max_pool2d(&{params}, {ctx.tensor(op.inputs[0])}, {ctx.tensor(op.outputs[0])});"
