"""Static arena planning: every activation gets an offset in one RAM buffer from its lifetime.

Lifetimes are op indices [first write, last read]; graph inputs live from the start and
graph outputs to the end (the host reads them after invoke); state and trainable tensors
live for the whole run (they keep their values between invokes), so nothing shares their
bytes. Ops marked ``ALIAS`` (reshape)
share their input's bytes, so aliased tensors form one buffer whose lifetime is the union.
Placement is greedy by size, largest first, at the lowest offset that does not overlap a
buffer alive at the same time (the strategy of TFLM's GreedyMemoryPlanner, without its
per-op bookkeeping in RAM). Op scratch buffers (``scratch_bytes``) live only during their op.
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

    def persistent_bytes(self, graph: Graph) -> int:
        """Arena bytes held across invokes (state and trainable copies)."""
        return sum(_align(b.size) for b in self.buffers if any(graph.tensors[t].persistent for t in b.tensors))

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

    buffers = list(groups.values())
    for i, op in enumerate(graph.ops):
        mod = op_registry.get(op.kind)
        scratch = getattr(mod, "scratch_bytes", None)
        n = scratch(op, graph) if scratch else 0
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
    return ArenaPlan(arena_bytes=arena, offsets=offsets, buffers=buffers)
