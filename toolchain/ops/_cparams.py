"""The params struct an op's emit() declares: ``static const <type> L<i>_params MF_CONST = {.field = value};``
(in flash; kernels read it through ``MF_PARAMS``, mf_const.h).

Private (``_``-prefixed), so the op registry does not load it as an op.
"""
from __future__ import annotations

from ..codegen.c_literals import c_value
from ..codegen.context import EmitContext


def params_struct(ctx: EmitContext, ctype: str, fields: dict) -> str:
    """Declare ``static const <ctype> L<i>_params MF_CONST = {.field = value, ...};``; returns its name."""
    sym = f"{ctx.prefix}_params"
    body = ",\n".join(f"    .{k} = {c_value(v)}" for k, v in fields.items())
    ctx.decl(f"static const {ctype} {sym} MF_CONST = {{\n{body}\n}};")
    return sym
