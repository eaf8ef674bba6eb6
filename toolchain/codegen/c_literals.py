"""C literals, written once for every generated file (model.c, the params structs, the front
end's and the head's config headers).

Floats are float32 values in numpy's shortest round-trip form with an ``f`` suffix, so the
compiler reads back exactly the float the numpy reference uses; integers are plain decimals
(``INT32_MIN`` where the literal itself would not fit an ``int``).
"""
from __future__ import annotations

import numpy as np


def c_float(v) -> str:
    """A float32 value as a C float literal that parses back to exactly that value."""
    f = np.float32(v)
    if not np.isfinite(f):
        raise ValueError(f"{v!r} is not a finite float32 value")
    s = str(f)  # numpy's shortest round-trip form for float32
    if not any(c in s for c in ".en"):
        s += ".0"
    return s + "f"


def c_int(v) -> str:
    v = int(v)
    if v == -(2**31):
        return "INT32_MIN"  # the literal 2147483648 does not fit an int
    return str(v)


def c_value(v) -> str:
    """A scalar or a (nested) list as a C initializer."""
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(c_value(x) for x in v) + "}"
    if isinstance(v, (float, np.floating)):
        return c_float(v)
    return c_int(v)


def c_array_body(values, per_line: int = 16) -> str:
    """The comma-separated, indented lines between an array initializer's braces."""
    flat = np.asarray(values).reshape(-1)
    fmt = c_float if flat.dtype.kind == "f" else c_int
    items = [fmt(v) for v in flat]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "    " + ",\n    ".join(lines) if lines else ""


def c_const_array(ctype: str, name: str, values, per_line: int = 16, size: str | None = None,
                  flash: bool = False) -> str:
    """``static const <ctype> <name>[<size>] = {...};`` (size defaults to the element count;
    an empty array gets one zero, since C forbids empty arrays). ``flash``: marked ``MF_CONST``
    (mf_const.h: program memory on the AVR), for constants kernels read through its accessors."""
    flat = np.asarray(values).reshape(-1)
    if flat.size == 0:
        flat = np.zeros(1, flat.dtype)
    where = " MF_CONST" if flash else ""
    return f"static const {ctype} {name}[{size or flat.size}]{where} = {{\n{c_array_body(flat, per_line)}\n}};"
