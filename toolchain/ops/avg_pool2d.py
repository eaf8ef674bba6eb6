"""Average pooling, int8 NHWC (TFLM reference_integer_ops::AveragePool).

Neutral attrs (front end): ``filter=(h, w)``, ``stride=(h, w)``, ``padding="same"|"valid"``,
``activation``. ``prepare`` adds ``pad=(top, left)``, ``act_min``, ``act_max``.

Padded pixels are not counted: each output is the sum of the in-bounds window divided by
the number of in-bounds pixels, rounded half away from zero, then clamped.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _pooling
from ._checks import ensure_prepared, tensor_in, tensor_out
from ._cparams import params_struct

KIND = "avg_pool2d"
TFLITE = ("AVERAGE_POOL_2D",)
INPUTS = ("input",)  # operand roles; '?' marks an optional one


def prepare(op: Op, graph: Graph) -> None:
    _pooling.prepare_pool(op, graph)


def rounded_mean(acc: np.ndarray, count: int) -> np.ndarray:
    """acc / count rounded half away from zero, with C's truncating division (as TFLM)."""
    half = count // 2
    return np.where(acc > 0, (acc + half) // count, -((-acc + half) // count))


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "pad", prepare)
    x = np.asarray(inputs[0]).reshape(tensor_in(op, graph).shape).astype(np.int64)
    y = np.empty(tensor_out(op, graph).shape, dtype=np.int64)
    for oy, ox, y0, y1, x0, x1 in _pooling.windows(op, graph):
        count = (y1 - y0) * (x1 - x0)
        if count == 0:
            raise ValueError(f"pooling window of output ({oy}, {ox}) lies entirely in the padding")
        acc = x[:, y0:y1, x0:x1, :].sum(axis=(1, 2))
        y[:, oy, ox, :] = rounded_mean(acc, count)
    y = np.clip(y, op.attrs["act_min"], op.attrs["act_max"])
    return [y.astype(np.int8)]


def macs(op: Op, graph: Graph) -> int:
    ensure_prepared(op, graph, "pad", prepare)
    return _pooling.window_ops(op, graph)


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "pad", prepare)
    params = params_struct(ctx, "mf_avg_pool2d_params", _pooling.c_fields(op, graph))
    return f"mf_avg_pool2d(&{params}, {ctx.tensor(op.inputs[0])}, {ctx.tensor(op.outputs[0])});"
