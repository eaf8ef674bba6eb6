"""Operators: one module per op, like TFLM's kernels (one op per file).

Each module ``mcuforge.ops.<kind>`` pairs with ``firmware/kernels/<kind>.c`` and defines:

- ``KIND``: the IR op kind (``"conv2d"``...); ``TFLITE``: TFLite builtin names it lowers from;
  ``INPUTS``: the roles of its operands (``"bias?"``: optional), checked by :func:`check_operands`
  before any op code touches them; ``OUTPUTS`` (optional) the roles of its outputs, if not one.
- ``prepare(op, graph)``: fold quantization into integer attrs (multipliers, shifts, clamps,
  pads) using ``mcuforge.graph.quant``. Reads the neutral attrs a front end set.
- ``reference(op, graph, inputs) -> list[np.ndarray]``: the numpy reference, integer-exact
  with the C kernel and with TFLM.
- ``macs(op, graph) -> int``: multiply-accumulates of one invocation.
- ``emit(op, graph, ctx) -> str``: the one C statement that runs the layer; declarations
  (params structs, multiplier arrays) go through ``ctx`` (see ``mcuforge.codegen.context``).
- ``ALIAS`` (optional, True for reshape): output shares the input's bytes; no code runs.

``REGISTRY`` maps kind -> module; the front ends reject any op not in it before any C is written.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from ..model.errors import ModelError

REGISTRY: dict[str, ModuleType] = {}


def _load() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "KIND"):
            REGISTRY[mod.KIND] = mod


def get(kind: str) -> ModuleType:
    if not REGISTRY:
        _load()
    return REGISTRY[kind]


def supported() -> list[str]:
    if not REGISTRY:
        _load()
    return sorted(REGISTRY)


def tflite_names() -> dict[str, str]:
    """TFLite builtin op name -> IR kind, for every registered op."""
    if not REGISTRY:
        _load()
    return {name: kind for kind, mod in REGISTRY.items() for name in getattr(mod, "TFLITE", ())}


def check_operands(op, kind: str, source: str) -> None:
    """The operand count and presence an op of ``kind`` takes (a corrupt model can leave out any),
    as a ModelError naming the operator and the missing role."""
    roles = getattr(get(kind), "INPUTS", None)
    if roles is None:  # an op module that does not declare them yet (tests/test_bad_models.py flags it)
        return
    outputs = getattr(get(kind), "OUTPUTS", ("output",))
    required = sum(not r.endswith("?") for r in roles)
    if not required <= len(op.inputs) <= len(roles) or len(op.outputs) != len(outputs):
        takes = ", ".join(r[:-1] + " (optional)" if r.endswith("?") else r for r in roles)
        gives = f"{len(outputs)} output" + ("s" if len(outputs) > 1 else "")
        raise ModelError(f"operator {op.index} ({source}) has {len(op.inputs)} input(s) and {len(op.outputs)} "
                         f"output(s); it takes {takes} and {gives}")
    for k, (name, role) in enumerate(zip(op.inputs, roles)):
        if not name and not role.endswith("?"):
            raise ModelError(f"operator {op.index} ({source}) input {k} ({role}) is absent")


def select_variants(graph, board) -> None:
    """Pick each op's kernel for the board's core, as ``op.attrs["variant"]``: what the op module's
    ``variant(op, graph, board)`` returns ("dsp": ``firmware/kernels/<kind>_dsp.c``), or no
    variant (the portable reference kernel). Runs before the arena plan (scratch may differ). An op
    reading a trainable tensor keeps the portable kernel: the variants lay their constants out
    anew in flash at generation time, where training would not reach them."""
    for op in graph.ops:
        choose = getattr(get(op.kind), "variant", None)
        trained = any(n and graph.tensor(n).storage == "trainable" for n in op.inputs)
        v = choose(op, graph, board) if choose is not None and not trained else None
        if v:
            op.attrs["variant"] = v
        else:
            op.attrs.pop("variant", None)
