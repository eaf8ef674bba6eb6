"""The graph IR every front end produces and every back end consumes.

A Graph is a list of Ops in execution order over named Tensors. Each tensor has a storage
(``Tensor.storage``): a *constant* carries its data (weights, biases) and lives in flash; an
*activation* carries only shape, dtype and quantization and gets an arena offset from the
planner; a *state* tensor lives in the arena for the whole run and keeps its value from
one invoke to the next (an RNN's hidden state; zero after reset); a *trainable* tensor is a
RAM copy in the arena of the constant it carries as ``data`` (its initial value), which the
device updates (weights being trained). Op kinds are lowered, backend-neutral names
(``conv2d``, ``depthwise_conv2d`` ...); each op's ``attrs`` holds everything a kernel
needs, with quantization already folded into integer multipliers by
``mcuforge.graph.lower`` so that the numpy reference and the C kernels read the same
numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

DTYPES = {
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,  # exact sums kept across invokes (TinyTrain's Fisher potentials)
    "uint32": np.uint32,  # bit-packed binary tensors: 32 channels per word, bit 1 = +1
    "float32": np.float32,
}
C_TYPES = {
    "int8": "int8_t",
    "uint8": "uint8_t",
    "int16": "int16_t",
    "int32": "int32_t",
    "int64": "int64_t",
    "uint32": "uint32_t",
    "float32": "float",
}


@dataclass
class Quant:
    """Affine quantization: real = scale * (q - zero_point); per-tensor or per-channel on ``axis``."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def s(self) -> float:
        """Per-tensor scale as a float (error if per-channel)."""
        assert self.scale.size == 1, "per-channel quantization has no single scale"
        return float(self.scale.reshape(-1)[0])

    @property
    def zp(self) -> int:
        assert self.zero_point.size >= 1
        return int(self.zero_point.reshape(-1)[0])


STORAGE = ("constant", "activation", "state", "trainable")
PERSISTENT = ("state", "trainable")  # in the arena, kept across invokes


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quant | None = None
    data: np.ndarray | None = None  # constants: the values; trainable: the initial value
    persist: str = ""  # "", or one of PERSISTENT

    def __post_init__(self) -> None:
        if self.persist and self.persist not in PERSISTENT:
            raise ValueError(f"tensor {self.name!r}: persist must be one of {PERSISTENT}, got {self.persist!r}")

    @property
    def storage(self) -> str:
        """One of STORAGE: where the tensor lives and how long."""
        if self.persist:
            return self.persist
        return "constant" if self.data is not None else "activation"

    @property
    def is_const(self) -> bool:
        return self.storage == "constant"

    @property
    def persistent(self) -> bool:
        return self.persist in PERSISTENT

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(DTYPES[self.dtype]).itemsize

    @property
    def ctype(self) -> str:
        return C_TYPES[self.dtype]


@dataclass
class Op:
    """One layer. ``index`` is the operator's position in the source model (for error messages)."""

    kind: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    index: int = -1
    name: str = ""


@dataclass
class Graph:
    name: str
    tensors: dict[str, Tensor]
    ops: list[Op]
    inputs: list[str]
    outputs: list[str]
    source_hash: str = ""  # sha256 of the model file the graph came from

    def tensor(self, name: str) -> Tensor:
        return self.tensors[name]

    def producers(self) -> dict[str, Op]:
        return {t: op for op in self.ops for t in op.outputs}

    def consumers(self) -> dict[str, list[Op]]:
        out: dict[str, list[Op]] = {}
        for op in self.ops:
            for t in op.inputs:
                out.setdefault(t, []).append(op)
        return out

    def activations(self) -> list[Tensor]:
        """Non-constant tensors: graph inputs, outputs, intermediates, state and trainable
        copies (all live in the arena)."""
        seen: dict[str, Tensor] = {}
        for name in self.inputs:
            seen[name] = self.tensors[name]
        for op in self.ops:
            for name in op.inputs + op.outputs:
                if not name:  # an absent optional input
                    continue
                t = self.tensors[name]
                if not t.is_const:
                    seen.setdefault(name, t)
        return list(seen.values())

    def persistent(self) -> list[Tensor]:
        """State and trainable tensors the ops use, in first-use order."""
        return [t for t in self.activations() if t.persistent]

    def states(self) -> list[Tensor]:
        """The state tensors (kept across invokes, zeroed by a reset), in first-use order."""
        return [t for t in self.persistent() if t.storage == "state"]

    def constants(self) -> list[Tensor]:
        names = []
        for op in self.ops:
            for n in op.inputs:
                if n and self.tensors[n].is_const and n not in names:
                    names.append(n)
        return [self.tensors[n] for n in names]
