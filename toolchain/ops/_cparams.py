"""The params struct an op's emit() declares: ``static const <type> L<i>_params = {.field = value};``.

Private (``_``-prefixed), so the op registry does not load it as an op.
"""
from __future__ import annotations

import numpy as np

from ..codegen.context import EmitContext


def params_struct(ctx: EmitContext, ctype: str, fields: dict) -> str:
    """Declare ``static const <ctype> L<i>_params = {.field = value, ...};``; returns its name."""
    sym = f"{ctx.prefix}_params"
    body = ",\n".join(f"    .{k} = {_c_value(v)}" for k, v in fields.items())
    ctx.decl(f"static const {ctype} {sym} = {{\n{body}\n}};")
    return sym


def _c_value(v) -> str:
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(_c_value(x) for x in v) + "}"
    if isinstance(v, (float, np.floating)):
        return repr(float(np.float32(v))) + "f"
    if int(v) == -(2**31):
        return "INT32_MIN"  # the literal 2147483648 would not fit an int
    return str(int(v))
