"""What an op's ``emit()`` gets: names for tensors and a place to put its constant declarations."""
from __future__ import annotations

import numpy as np

from ..graph.ir import C_TYPES, Graph, Op
from .c_literals import c_const_array


class EmitContext:
    """Collects the declarations of one layer; ``prefix`` (``L3``) keeps symbol names unique."""

    def __init__(self, graph: Graph, op: Op, layer: int, tensor_expr: dict[str, str]):
        self.graph = graph
        self.op = op
        self.layer = layer
        self.prefix = f"L{layer}"
        self._tensor_expr = tensor_expr
        self.decls: list[str] = []
        self.replaced: set[str] = set()

    def tensor(self, name: str) -> str:
        """C expression for a tensor: a const array symbol for weights, an arena pointer for activations."""
        return self._tensor_expr[name]

    def array(self, suffix: str, values: np.ndarray, ctype: str | None = None, comment: str = "") -> str:
        """Declare ``static const <ctype> L<i>_<suffix>[] MF_CONST = {...};`` in flash; returns the symbol."""
        values = np.asarray(values)
        ctype = ctype or C_TYPES[str(values.dtype)]
        sym = f"{self.prefix}_{suffix}"
        note = f"/* {comment} */\n" if comment else ""
        self.decls.append(note + c_const_array(ctype, sym, values, flash=True))
        return sym

    def decl(self, text: str) -> None:
        """A raw declaration (e.g. a ``static const mf_conv2d_params L3_params MF_CONST = {...};``)."""
        self.decls.append(text)

    def replace(self, name: str) -> bool:
        """This layer declared constant ``name`` again in the order its kernel reads it: leave the
        original out of flash if no other op reads it. Returns whether it was left out."""
        if sum(name in o.inputs for o in self.graph.ops) != 1 or name in self.graph.outputs:
            return False
        self.replaced.add(name)
        return True
