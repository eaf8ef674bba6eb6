"""Lowering driver: let every op fold its quantization into integer attrs (``prepare``).

Runs after a front end has built a graph with neutral attrs. Any problem an op finds with
its options or types is reported as an :class:`UnsupportedOpError` naming the op and layer.
"""
from __future__ import annotations

from .. import ops
from ..model.errors import ModelError, UnsupportedOpError
from .ir import Graph


def lower(graph: Graph) -> Graph:
    """Call ``prepare(op, graph)`` of each op's module, in execution order; returns the graph."""
    for op in graph.ops:
        source = op.attrs.get("source_op", op.kind)
        try:
            mod = ops.get(op.kind)
        except KeyError:
            raise UnsupportedOpError(source, op.index, "no kernel for this op", ops.supported()) from None
        ops.check_operands(op, op.kind, source)  # a corrupt model can leave an operand out
        try:
            mod.prepare(op, graph)
        except ModelError:
            raise
        except (ValueError, NotImplementedError) as exc:
            # prepare() reports unsupported options/types with ValueError; add where it happened.
            raise UnsupportedOpError(source, op.index, str(exc)) from exc
    return graph
