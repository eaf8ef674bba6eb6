"""Errors a front end raises for a model mcuforge cannot compile (before any C is written)."""
from __future__ import annotations


class ModelError(Exception):
    """The model file is unreadable or uses something mcuforge does not support."""


class UnsupportedOpError(ModelError):
    """An operator (or an option of one) that mcuforge cannot compile.

    ``op`` is the source op name (``TANH``), ``index`` the operator's position in the model
    (the layer number users see in Netron), ``supported`` the names that are accepted.
    """

    def __init__(self, op: str, index: int, reason: str = "", supported: list[str] | None = None):
        self.op = op
        self.index = index
        self.reason = reason
        self.supported = list(supported or [])
        where = f"operator {op} at layer {index}" if index >= 0 else f"operator {op}"
        msg = f"{where}: {reason}" if reason else f"unsupported {where}"
        if self.supported:
            msg += f". Supported: {', '.join(self.supported)}"
        super().__init__(msg)
