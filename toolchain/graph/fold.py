"""Constant-fold shape arithmetic so that only real layers reach code generation.

Keras 3's ``Flatten`` converts to ``SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE`` (and converters
also emit CONCATENATION/GATHER/REDUCE_PROD over shapes). Every shape is static for a batch-1
microcontroller model, so such ops are evaluated here once: their outputs become constant
tensors, and ops left without consumers are dropped.

Works on a *raw* graph (see :mod:`mcuforge.model.tflite`): ``op.kind`` is still the source
builtin name (``"STRIDED_SLICE"``) and ``op.attrs`` holds the builtin options by their schema
field names (``beginMask``...).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..model.errors import ModelError
from .ir import Graph, Op

# numpy dtypes for every tensor dtype a raw graph may hold (int64/bool only in shape arithmetic).
RAW_DTYPES = {
    "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32,
    "int64": np.int64, "float32": np.float32, "bool": np.bool_,
}


def _shape(op: Op, g: Graph, ins: list[np.ndarray]) -> np.ndarray:
    return np.array(g.tensor(op.inputs[0]).shape, dtype=np.int64)


def _strided_slice(op: Op, g: Graph, ins: list[np.ndarray]) -> np.ndarray:
    x, begin, end, strides = ins[0], ins[1], ins[2], ins[3]
    a = op.attrs
    if a.get("ellipsisMask", 0) or a.get("newAxisMask", 0):
        raise ModelError(f"STRIDED_SLICE at layer {op.index}: ellipsis/new-axis masks are not supported")
    index: list = []
    shrink: list[int] = []
    for i in range(x.ndim):
        if i >= begin.size:
            index.append(slice(None))
            continue
        b, e, s = int(begin[i]), int(end[i]), int(strides[i])
        if a.get("offset", False):
            e = b + e  # end is relative to begin
        if a.get("shrinkAxisMask", 0) >> i & 1:
            index.append(b)  # keeps one element and drops the axis
            shrink.append(i)
            continue
        bi = None if a.get("beginMask", 0) >> i & 1 else b
        ei = None if a.get("endMask", 0) >> i & 1 else e
        index.append(slice(bi, ei, s))
    return np.asarray(x[tuple(index)])


def _pack(op: Op, g: Graph, ins: list[np.ndarray]) -> np.ndarray:
    return np.stack(ins, axis=int(op.attrs.get("axis", 0)))


def _concatenation(op: Op, g: Graph, ins: list[np.ndarray]) -> np.ndarray:
    if op.attrs.get("fusedActivationFunction", 0):
        raise ModelError(f"CONCATENATION at layer {op.index}: fused activation on constants is not supported")
    return np.concatenate([np.atleast_1d(v) for v in ins], axis=int(op.attrs.get("axis", 0)))


def _gather(op: Op, g: Graph, ins: list[np.ndarray]) -> np.ndarray:
    if op.attrs.get("batchDims", 0):
        raise ModelError(f"GATHER at layer {op.index}: batch_dims is not supported")
    return np.take(ins[0], ins[1].astype(np.int64), axis=int(op.attrs.get("axis", 0)))


def _reduce_prod(op: Op, g: Graph, ins: list[np.ndarray]) -> np.ndarray:
    axes = tuple(int(v) for v in np.atleast_1d(ins[1]))
    return np.prod(ins[0], axis=axes, keepdims=bool(op.attrs.get("keepDims", False)))


def _cast(op: Op, g: Graph, ins: list[np.ndarray]) -> np.ndarray:
    return ins[0]  # the output tensor's dtype is applied by the caller


def _reshape_like_output(op: Op, g: Graph, ins: list[np.ndarray]) -> np.ndarray:
    return ins[0].reshape(g.tensor(op.outputs[0]).shape)


def _binary(fn: Callable) -> Callable:
    def run(op: Op, g: Graph, ins: list[np.ndarray]) -> np.ndarray:
        if op.attrs.get("fusedActivationFunction", 0):
            raise ModelError(f"{op.kind} at layer {op.index}: fused activation on constants is not supported")
        return fn(ins[0].astype(np.int64), ins[1].astype(np.int64))
    return run


FOLDERS: dict[str, Callable[[Op, Graph, list[np.ndarray]], np.ndarray]] = {
    "SHAPE": _shape,
    "STRIDED_SLICE": _strided_slice,
    "PACK": _pack,
    "CONCATENATION": _concatenation,
    "GATHER": _gather,
    "REDUCE_PROD": _reduce_prod,
    "CAST": _cast,
    "SQUEEZE": _reshape_like_output,
    "EXPAND_DIMS": _reshape_like_output,
    "RESHAPE": _reshape_like_output,
    "MUL": _binary(np.multiply),
    "ADD": _binary(np.add),
    "SUB": _binary(np.subtract),
    "FLOOR_DIV": _binary(np.floor_divide),
}
# Integer arithmetic is folded only on plain (unquantized) integer tensors: shape maths.
_ARITHMETIC = {"MUL", "ADD", "SUB", "FLOOR_DIV"}


def foldable_ops() -> list[str]:
    """Source op names that are accepted when all their inputs are constant (or static shapes)."""
    return sorted(FOLDERS)


def _can_fold(op: Op, g: Graph) -> bool:
    if op.kind not in FOLDERS:
        return False
    outs = [g.tensor(n) for n in op.outputs]
    if len(outs) != 1 or outs[0].dtype not in RAW_DTYPES:
        return False
    if op.kind in _ARITHMETIC and (outs[0].quant is not None or outs[0].dtype not in ("int32", "int64")):
        return False
    if op.kind == "SHAPE":
        return True  # shapes are static in a batch-1 model
    return all(g.tensor(n).is_const for n in op.inputs if n)


def fold_constants(graph: Graph) -> Graph:
    """Evaluate foldable ops on constants, in order; then drop dead ops and unused tensors."""
    kept: list[Op] = []
    for op in graph.ops:
        if not _can_fold(op, graph):
            kept.append(op)
            continue
        ins = [graph.tensor(n).data for n in op.inputs if n]
        try:
            value = FOLDERS[op.kind](op, graph, ins)
        except ModelError:
            raise
        except (ValueError, IndexError, TypeError, OverflowError) as exc:  # numpy on malformed shape data
            raise ModelError(f"cannot fold {op.kind} at layer {op.index}: {exc}") from exc
        out = graph.tensor(op.outputs[0])
        value = np.asarray(value).astype(RAW_DTYPES[out.dtype])
        if out.shape and int(np.prod(out.shape)) == value.size:
            value = value.reshape(out.shape)
        out.shape = tuple(int(d) for d in value.shape)
        out.data = value
    graph.ops = kept
    remove_dead_ops(graph)
    return graph


def remove_dead_ops(graph: Graph) -> None:
    """Drop ops whose outputs nobody reads (repeat until stable), then unreferenced tensors."""
    while True:
        used = set(graph.outputs)
        for op in graph.ops:
            used.update(n for n in op.inputs if n)
        live = [op for op in graph.ops if any(n in used for n in op.outputs)]
        if len(live) == len(graph.ops):
            break
        graph.ops = live
    referenced = set(graph.inputs) | set(graph.outputs)
    for op in graph.ops:
        referenced.update(n for n in op.inputs + op.outputs if n)
    graph.tensors = {n: t for n, t in graph.tensors.items() if n in referenced}

