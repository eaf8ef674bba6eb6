"""Static arena planning: every activation gets an offset in one RAM buffer from its lifetime.

Lifetimes are op indices [first write, last read]; graph inputs live from the start and
graph outputs to the end (the host reads them after invoke); state and trainable tensors
live for the whole run (they keep their values between invokes), so nothing shares their
bytes. Ops marked ``ALIAS`` (reshape)
share their input's bytes, so aliased tensors form one buffer whose lifetime is the union.
Placement is greedy by size, largest first, at the lowest offset that does not overlap a
buffer alive at the same time (the strategy of TFLM's GreedyMemoryPlanner, without its
per-op bookkeeping in RAM). Op scratch buffers (``scratch_bytes``) live only during their op.

In place: an op whose kernel can write its output over its input (its module's
``in_place_scratch_bytes(op, graph)`` returns the extra scratch that takes, None where it cannot:
the DSP pointwise conv, which copies each pixel pair into its column first, and the DSP depthwise
conv, which holds the rows its input still needs in a small ring) gets its output in its input's
buffer when that input dies at the op (no later reader, not a graph input, output or state). The
plan lists those ops (``in_place``): in a DS-CNN the whole chain of depthwise and pointwise layers
then runs in one tensor's bytes, below the bound of any plan that keeps two whole tensors.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import ops as op_registry
from ..graph.ir import Graph

ALIGN = 8


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Buffer:
    tensors: list[str]
    size: int
    first: int
    last: int
    offset: int = -1

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return not (self.last < other.first or other.last < self.first)


@dataclass
class ArenaPlan:
    arena_bytes: int
    offsets: dict[str, int]  # tensor name (or "__scratch__L<i>") -> byte offset
    buffers: list[Buffer] = field(default_factory=list)
    in_place: list[int] = field(default_factory=list)  # ops whose output took their input's bytes

    def persistent_bytes(self, graph: Graph) -> int:
        """Arena bytes held across invokes (state and trainable copies; a layer's scratch,
        "__scratch__L<i>", is no tensor of the graph and never persistent)."""
        return sum(_align(b.size) for b in self.buffers
                   if any(t in graph.tensors and graph.tensors[t].persistent for t in b.tensors))

    def in_place_layers(self, graph: Graph, layers) -> list[int]:
        """Indices of the generated layers (``codegen.model_c.Layer``) that write over their input."""
        outputs = {graph.ops[i].outputs[0] for i in self.in_place}
        return [layer.index for layer in layers if layer.output in outputs]

    def naive_bytes(self) -> int:
        """What the arena would be with no reuse at all (for the report)."""
        return sum(_align(b.size) for b in self.buffers)


def plan_arena(graph: Graph) -> ArenaPlan:
    n_ops = len(graph.ops)
    # Union aliased tensors (reshape output -> input).
    parent: dict[str, str] = {}

    def find(t: str) -> str:
        while parent.get(t, t) != t:
            t = parent[t]
        return t

    for op in graph.ops:
        mod = op_registry.get(op.kind)
        if getattr(mod, "ALIAS", False):
            src = find(op.inputs[0])
            parent[find(op.outputs[0])] = src

    groups: dict[str, Buffer] = {}

    def touch(name: str, at: int) -> None:
        t = graph.tensors[name]
        if t.is_const:
            return
        root = find(name)
        b = groups.get(root)
        if b is None:
            groups[root] = Buffer([name], t.nbytes, at, at)
            return
        if name not in b.tensors:
            b.tensors.append(name)
        b.size = max(b.size, t.nbytes)
        b.first = min(b.first, at)
        b.last = max(b.last, at)

    for name in graph.inputs:
        touch(name, -1)
    for i, op in enumerate(graph.ops):
        for name in op.inputs:
            if name:
                touch(name, i)
        for name in op.outputs:
            touch(name, i)
    for name in graph.outputs:
        touch(name, n_ops)
    for t in graph.persistent():
        if t.storage == "trainable" and t.data is None:
            raise ValueError(f"trainable tensor {t.name!r} has no initial value")
        touch(t.name, -1)
        touch(t.name, n_ops)

    in_place = _write_in_place(graph, groups, find, parent)
    buffers = list(groups.values())
    for i, op in enumerate(graph.ops):
        mod = op_registry.get(op.kind)
        scratch = getattr(mod, "scratch_bytes", None)
        n = (scratch(op, graph) if scratch else 0) + in_place.get(i, 0)
        if n:
            buffers.append(Buffer([f"__scratch__L{i}"], n, i, i))

    placed: list[Buffer] = []
    for b in sorted(buffers, key=lambda b: (-b.size, b.first)):
        offset = 0
        for p in sorted((p for p in placed if p.overlaps_in_time(b)), key=lambda p: p.offset):
            if offset + b.size <= p.offset:
                break
            offset = max(offset, _align(p.offset + p.size))
        b.offset = offset
        placed.append(b)

    offsets = {t: b.offset for b in buffers for t in b.tensors}
    arena = max((_align(b.offset + b.size) for b in buffers), default=0)
    return ArenaPlan(arena_bytes=arena, offsets=offsets, buffers=buffers, in_place=sorted(in_place))


def _write_in_place(graph: Graph, groups: dict, find, parent: dict) -> dict[int, int]:
    """Merge each in-place op's output buffer into its input's where that input dies at the op.
    Returns {op index: extra scratch bytes}. In op order, so a chain of such ops shares one buffer."""
    fixed = set(graph.inputs) | set(graph.outputs) | {t.name for t in graph.persistent()}
    chosen: dict[int, int] = {}
    for i, op in enumerate(graph.ops):
        extra = getattr(op_registry.get(op.kind), "in_place_scratch_bytes", None)
        if extra is None or not op.inputs or not op.inputs[0] or len(op.outputs) != 1:
            continue
        src, dst = find(op.inputs[0]), find(op.outputs[0])
        a, b = groups.get(src), groups.get(dst)
        if a is None or b is None or a is b or a.last != i or b.first != i:
            continue
        if fixed & set(a.tensors + b.tensors):
            continue
        n = extra(op, graph)
        if n is None:
            continue
        parent[dst] = src
        a.tensors += b.tensors
        a.size, a.last = max(a.size, b.size), b.last
        del groups[dst]
        chosen[i] = n
    return chosen
