"""numpy reference executor: run a lowered graph op by op with each op's ``reference()``.

It is the integer-exact model of what the generated firmware computes, so board outputs can
be compared with it (and it with TFLM) layer by layer.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..graph.ir import DTYPES, Graph


def _as_input(graph: Graph, name: str, value) -> np.ndarray:
    t = graph.tensor(name)
    arr = np.asarray(value)
    if arr.size != t.size:
        raise ValueError(f"input {name!r} needs {t.size} values of shape {t.shape}, got shape {arr.shape}")
    want = np.dtype(DTYPES[t.dtype])
    if arr.dtype != want:
        if arr.dtype.kind in "iu" and want.kind in "iu":
            info = np.iinfo(want)
            if arr.size and (arr.min() < info.min or arr.max() > info.max):
                raise ValueError(f"input {name!r} has values outside {t.dtype}")
        elif not (arr.dtype.kind == "f" and want.kind == "f"):
            raise ValueError(f"input {name!r} must be {t.dtype}, got {arr.dtype}")
        arr = arr.astype(want)
    return arr.reshape(t.shape)


def initial_state(graph: Graph) -> dict[str, np.ndarray]:
    """State and trainable tensors as after the firmware's mf_model_reset(): state zero
    (or its given initial value), trainable copies equal to their constants."""
    out = {}
    for t in graph.persistent():
        dtype = np.dtype(DTYPES[t.dtype])
        out[t.name] = (np.zeros(t.shape, dtype) if t.data is None
                       else np.asarray(t.data).astype(dtype).reshape(t.shape).copy())
    return out


def run_graph_all(graph: Graph, inputs: list, state: dict | None = None) -> dict[str, np.ndarray]:
    """Every tensor's value (graph inputs, each op's outputs) by tensor name. ``state`` holds
    the persistent tensors across calls, as the board's arena does between invokes (updated
    in place); without it each call starts from ``initial_state``."""
    if len(inputs) != len(graph.inputs):
        raise ValueError(f"graph {graph.name!r} has {len(graph.inputs)} inputs, got {len(inputs)}")
    if state is None:
        state = initial_state(graph)
    else:
        for name, value in initial_state(graph).items():
            state.setdefault(name, value)
    values: dict[str, np.ndarray] = dict(state)
    values.update({n: _as_input(graph, n, x) for n, x in zip(graph.inputs, inputs)})
    for op in graph.ops:
        args = []
        for n in op.inputs:
            if not n:
                args.append(None)
            elif graph.tensor(n).is_const:
                args.append(graph.tensor(n).data)
            else:
                args.append(values[n])
        outs = ops.get(op.kind).reference(op, graph, args)
        if len(outs) != len(op.outputs):
            raise RuntimeError(f"{op.kind} (layer {op.index}) returned {len(outs)} outputs, expected {len(op.outputs)}")
        for n, v in zip(op.outputs, outs):
            t = graph.tensor(n)
            v = np.asarray(v)
            if v.shape != tuple(t.shape) or v.dtype != np.dtype(DTYPES[t.dtype]):
                raise RuntimeError(f"{op.kind} (layer {op.index}) produced {v.dtype}{v.shape} for {n!r}, "
                                   f"expected {t.dtype}{tuple(t.shape)}")
            values[n] = v
    for name in state:
        state[name] = values[name]
    return values


def run_graph(graph: Graph, inputs: list, state: dict | None = None) -> list[np.ndarray]:
    """The graph outputs for one sample (inputs in ``graph.inputs`` order)."""
    values = run_graph_all(graph, inputs, state)
    return [values[n] for n in graph.outputs]


def run_graph_batch(graph: Graph, inputs: list) -> list[np.ndarray]:
    """The graph outputs for a batch of N samples at once (each input [N, *shape[1:]] or its flat
    equivalent), one numpy pass per op: the same values as ``run_graph`` sample by sample, for a
    stateless graph whose ops all declare ``BATCHED`` (their reference takes a leading batch axis)."""
    if len(inputs) != len(graph.inputs):
        raise ValueError(f"graph {graph.name!r} has {len(graph.inputs)} inputs, got {len(inputs)}")
    if graph.persistent():
        raise ValueError(f"graph {graph.name!r} has state or trainable tensors: run it sample by sample")
    unbatched = sorted({op.kind for op in graph.ops if not getattr(ops.get(op.kind), "BATCHED", False)})
    if unbatched:
        raise ValueError(f"ops {', '.join(unbatched)} take one sample at a time: use run_graph")
    values: dict[str, np.ndarray] = {}
    n = None
    for name, x in zip(graph.inputs, inputs):
        t = graph.tensor(name)
        arr = np.asarray(x)
        per = t.size // t.shape[0]
        if arr.size % per or (n is not None and arr.size // per != n):
            raise ValueError(f"input {name!r}: {arr.size} values are not a whole batch of shape {t.shape[1:]}")
        n = arr.size // per
        values[name] = np.stack([_as_input(graph, name, s) for s in arr.reshape((n,) + tuple(t.shape[1:]))])[:, 0]
    for op in graph.ops:
        args = [None if not a else graph.tensor(a).data if graph.tensor(a).is_const else values[a] for a in op.inputs]
        for name, v in zip(op.outputs, ops.get(op.kind).reference(op, graph, args)):
            t = graph.tensor(name)
            v = np.asarray(v)
            if v.shape != (n,) + tuple(t.shape[1:]) or v.dtype != np.dtype(DTYPES[t.dtype]):
                raise RuntimeError(f"{op.kind} (layer {op.index}) produced {v.dtype}{v.shape} for {name!r}, "
                                   f"expected {t.dtype}{(n,) + tuple(t.shape[1:])}")
            values[name] = v
    return [values[name] for name in graph.outputs]
