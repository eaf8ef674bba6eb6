"""Structure-aware mutation fuzzing of the model path: reading, lowering, planning, generation.

Each case takes one shipped test model (the zoo's checked-in .tflite bytes) and changes one or a
few schema fields — tensor shapes and types, buffer and tensor indices, quantization (scales,
zero points, quantized dimension), op codes, builtin options, buffers, vector lengths, the graph's
inputs/outputs — in place in the file (most cases), or through the flatbuffer object API and
packs it again (vectors grown or shrunk, option tables swapped), or truncates it; then runs

    load_tflite -> plan_arena -> check_fits -> render      (no C build)

A case ends in a graph that compiles, or in a :class:`ModelError` (the refusal); anything else is
a crash. Cases are a pure function of (model bytes, seed), so a crash is replayed with
:func:`replay`. Used by ``tests/test_model_fuzz.py`` (a few thousand cases) and ``python -m bench
fuzz`` (100,000 and more).
"""
from __future__ import annotations

import struct
import traceback
from dataclasses import dataclass, field
from typing import Callable

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from mcuforge.boards import load_board
from mcuforge.codegen.model_c import render
from mcuforge.model import ModelError
from mcuforge.model.loader import load
from mcuforge.plan.arena import plan_arena
from mcuforge.plan.budget import check_fits

BOARD = "netduinoplus2"
INT32 = (-(2**31), 2**31 - 1)
UINT32 = (0, 2**32 - 1)
# Values that find the edges: zero, one, negatives, the field's limits, and "one past" sizes.
_EDGE_INTS = (0, 1, 2, 3, -1, -2, -128, 127, 255, 65535, 2**31 - 1, -(2**31))
_EDGE_FLOATS = (0.0, -0.0, -1.0, 1.0, 1e-45, 1e-38, 1e-20, 1e20, 3.0e38, float("inf"), float("-inf"),
                float("nan"), 0.5, 1 / 256)


def compile_model(data: bytes, board) -> None:
    """The path a model takes through ``mcuforge generate``, up to the C text (nothing written)."""
    graph = load(data).graph
    plan = plan_arena(graph)
    check_fits(graph, plan, board)
    render(graph, plan, "model")


# ---------------------------------------------------------------- mutations


class _Undo(list):
    """Setters applied to the unpacked model, undone in reverse after packing."""

    def set(self, obj, attr: str, value) -> None:
        self.append((obj, attr, getattr(obj, attr)))
        setattr(obj, attr, value)

    def undo(self) -> None:
        for obj, attr, old in reversed(self):
            setattr(obj, attr, old)
        self.clear()


def _int(rng, lo: int, hi: int, near: int | None = None) -> int:
    """An edge value in [lo, hi], or one near ``near`` (a size: one past the end, one before)."""
    pick = rng.random()
    if near is not None and pick < 0.4:
        v = near + int(rng.integers(-2, 3))
    elif pick < 0.8:
        v = int(_EDGE_INTS[int(rng.integers(len(_EDGE_INTS)))])
    else:
        v = int(rng.integers(lo, hi, endpoint=True))
    return min(max(v, lo), hi)


def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))] if seq is not None and len(seq) else None


def _sub(m):
    return m.subgraphs[0]


def _tensor(m, rng):
    return _pick(rng, _sub(m).tensors)


def _vector(rng, old, lo: int, hi: int, near: int | None = None) -> list:
    """Change, drop, add an element of an int vector, or empty/None it."""
    v = [int(x) for x in (old if old is not None else [])]
    pick = rng.random()
    if pick < 0.55 and v:
        v[int(rng.integers(len(v)))] = _int(rng, lo, hi, near)
    elif pick < 0.7 and v:
        del v[int(rng.integers(len(v)))]
    elif pick < 0.85:
        v.insert(int(rng.integers(len(v) + 1)), _int(rng, lo, hi, near))
    elif pick < 0.93:
        v = []
    else:
        return None
    return v


def mutate_shape(m, rng, u: _Undo) -> str:
    t = _tensor(m, rng)
    new = _vector(rng, t.shape, *INT32, near=int(_pick(rng, t.shape) or 1))
    u.set(t, "shape", new)
    return f"tensor {t.name!r} shape -> {new}"


def mutate_type(m, rng, u: _Undo) -> str:
    t = _tensor(m, rng)
    new = int(rng.integers(-128, 128)) if rng.random() < 0.2 else int(rng.integers(0, 18))
    u.set(t, "type", new)
    return f"tensor {t.name!r} type -> {new}"


def mutate_buffer_index(m, rng, u: _Undo) -> str:
    t = _tensor(m, rng)
    new = _int(rng, *UINT32, near=len(m.buffers) if rng.random() < 0.5 else int(t.buffer))
    u.set(t, "buffer", new)
    return f"tensor {t.name!r} buffer -> {new}"


def mutate_variable(m, rng, u: _Undo) -> str:
    t = _tensor(m, rng)
    u.set(t, "isVariable", not t.isVariable)
    return f"tensor {t.name!r} isVariable -> {t.isVariable}"


def _quant(m, rng, u: _Undo):
    t = _tensor(m, rng)
    if t.quantization is None:
        u.set(t, "quantization", schema.QuantizationParametersT())
    return t, t.quantization


def mutate_scale(m, rng, u: _Undo) -> str:
    t, q = _quant(m, rng, u)
    s = [float(x) for x in (q.scale if q.scale is not None else [])]
    pick = rng.random()
    if pick < 0.6 and s:
        s[int(rng.integers(len(s)))] = float(_pick(rng, _EDGE_FLOATS))
    elif pick < 0.75 and s:
        del s[int(rng.integers(len(s)))]
    elif pick < 0.9:
        s.append(float(_pick(rng, _EDGE_FLOATS)))
    else:
        s = []
    u.set(q, "scale", s)
    return f"tensor {t.name!r} scale -> {s[:4]}{'...' if len(s) > 4 else ''} ({len(s)})"


def mutate_zero_point(m, rng, u: _Undo) -> str:
    t, q = _quant(m, rng, u)
    new = _vector(rng, q.zeroPoint, -(2**63), 2**63 - 1)
    u.set(q, "zeroPoint", new)
    return f"tensor {t.name!r} zero points -> {new if new is None else new[:4]}"


def mutate_quantized_dimension(m, rng, u: _Undo) -> str:
    t, q = _quant(m, rng, u)
    new = _int(rng, *INT32, near=len(t.shape) if t.shape is not None else 0)
    u.set(q, "quantizedDimension", new)
    return f"tensor {t.name!r} quantized dimension -> {new}"


def mutate_drop_quant(m, rng, u: _Undo) -> str:
    t = _tensor(m, rng)
    u.set(t, "quantization", None)
    return f"tensor {t.name!r} quantization -> None"


def _op(m, rng):
    return _pick(rng, _sub(m).operators)


def mutate_op_tensor(m, rng, u: _Undo) -> str:
    op = _op(m, rng)
    if op is None:
        return "no operator"
    which = "inputs" if rng.random() < 0.65 else "outputs"
    new = _vector(rng, getattr(op, which), *INT32, near=len(_sub(m).tensors))
    u.set(op, which, new)
    return f"operator {_sub(m).operators.index(op)} {which} -> {new}"


def mutate_opcode_index(m, rng, u: _Undo) -> str:
    op = _op(m, rng)
    if op is None:
        return "no operator"
    new = _int(rng, *UINT32, near=len(m.operatorCodes))
    u.set(op, "opcodeIndex", new)
    return f"operator {_sub(m).operators.index(op)} opcode index -> {new}"


def mutate_op_code(m, rng, u: _Undo) -> str:
    code = _pick(rng, m.operatorCodes)
    builtin = int(rng.integers(0, 220)) if rng.random() < 0.9 else _int(rng, *INT32)
    pick = rng.random()
    if pick < 0.45:
        u.set(code, "builtinCode", builtin)
    elif pick < 0.8:
        u.set(code, "deprecatedBuiltinCode", int(np.clip(builtin, -128, 127)))
    else:
        u.set(code, "builtinCode", int(schema.BuiltinOperator.CUSTOM))
        u.set(code, "deprecatedBuiltinCode", int(schema.BuiltinOperator.CUSTOM))
        u.set(code, "customCode", bytes(rng.integers(0, 256, int(rng.integers(0, 12))).astype(np.uint8)))
    return f"operator code {m.operatorCodes.index(code)} -> {vars(code)}"


def mutate_options(m, rng, u: _Undo) -> str:
    op = _op(m, rng)
    if op is None:
        return "no operator"
    i = _sub(m).operators.index(op)
    opts = op.builtinOptions
    fields = [k for k, v in vars(opts).items() if isinstance(v, (int, float, bool, np.integer, np.floating))] \
        if opts is not None else []
    if not fields or rng.random() < 0.15:
        other = int(rng.integers(0, 40))  # another option table, or none
        cls = getattr(schema, f"{_OPTION_NAMES.get(other, '')}T", None)
        u.set(op, "builtinOptionsType", other if cls else 0)
        u.set(op, "builtinOptions", cls() if cls else None)
        return f"operator {i} options -> {_OPTION_NAMES.get(other) if cls else None}"
    name = _pick(rng, fields)
    old = getattr(opts, name)
    if isinstance(old, bool):
        new = not old
    elif isinstance(old, (float, np.floating)):
        new = float(_pick(rng, _EDGE_FLOATS))
    else:
        new = int(np.clip(_int(rng, *INT32), -128, 127)) if name in _INT8_FIELDS else _int(rng, *INT32)
    u.set(opts, name, new)
    return f"operator {i} option {name} -> {new}"


def mutate_buffer(m, rng, u: _Undo) -> str:
    i = int(rng.integers(len(m.buffers)))
    b = m.buffers[i]
    pick = rng.random()
    if pick < 0.5 and b.data is not None and len(b.data):
        cut = int(rng.integers(len(b.data)))
        u.set(b, "data", np.asarray(b.data)[:cut])
        return f"buffer {i} cut to {cut} bytes"
    if pick < 0.7:
        extra = rng.integers(0, 256, int(rng.integers(1, 9))).astype(np.uint8)
        u.set(b, "data", np.concatenate([np.asarray(b.data if b.data is not None else [], np.uint8), extra]))
        return f"buffer {i} grown by {extra.size} bytes"
    u.set(b, "offset", _int(rng, 0, 2**63 - 1))
    u.set(b, "size", _int(rng, 0, 2**63 - 1))
    return f"buffer {i} offset {b.offset} size {b.size}"


def mutate_graph_io(m, rng, u: _Undo) -> str:
    sub = _sub(m)
    which = "inputs" if rng.random() < 0.5 else "outputs"
    new = _vector(rng, getattr(sub, which), *INT32, near=len(sub.tensors))
    u.set(sub, which, new)
    return f"graph {which} -> {new}"


_OPTION_NAMES = {v: k for k, v in vars(schema.BuiltinOptions).items() if not k.startswith("_")}
# Option fields stored as int8 in the schema (enums): a wider value would not pack.
_INT8_FIELDS = {"padding", "fusedActivationFunction", "weightsFormat", "quantizedBiasType", "outType",
                "asymmetricQuantizeInputs", "kernelType", "type"}

MUTATORS: dict[str, Callable] = {
    "shape": mutate_shape, "type": mutate_type, "buffer_index": mutate_buffer_index,
    "variable": mutate_variable, "scale": mutate_scale, "zero_point": mutate_zero_point,
    "quantized_dimension": mutate_quantized_dimension, "drop_quant": mutate_drop_quant,
    "op_tensor": mutate_op_tensor, "opcode_index": mutate_opcode_index, "op_code": mutate_op_code,
    "options": mutate_options, "buffer": mutate_buffer, "graph_io": mutate_graph_io,
}
TRUNCATE = "truncate"  # a case that cuts the packed bytes short


# ---------------------------------------------------------------- in-place patches

# The schema fields a patch may overwrite where they lie in the file: (vtable offset, struct format)
# per table (from schema_py_generated's accessors). Vectors: their elements and their length word.
_TENSOR = {"shape": (4, "<i"), "type": (6, "<b"), "buffer": (8, "<I"), "isVariable": (14, "<B")}
_QUANT = {"scale": (8, "<f"), "zeroPoint": (10, "<q"), "quantizedDimension": (16, "<i")}
_OPERATOR = {"opcodeIndex": (4, "<I"), "inputs": (6, "<i"), "outputs": (8, "<i"), "builtinOptionsType": (10, "<B")}
_OPCODE = {"deprecatedBuiltinCode": (4, "<b"), "builtinCode": (10, "<i")}
_SUBGRAPH = {"inputs": (6, "<i"), "outputs": (8, "<i")}
_BUFFER = {"data": (4, "<B"), "offset": (6, "<Q"), "size": (8, "<Q")}
_VECTORS = {"shape", "scale", "zeroPoint", "inputs", "outputs", "data"}
_RANGES = {"b": (-128, 127), "B": (0, 255), "h": (-(2**15), 2**15 - 1), "i": INT32, "I": UINT32,
           "q": (-(2**63), 2**63 - 1), "Q": (0, 2**64 - 1)}


def _fields(tab, fields: dict, label: str, sites: list) -> None:
    """Add the byte position of each present field of one table (and each vector element) to ``sites``."""
    for name, (slot, fmt) in fields.items():
        o = tab.Offset(slot)
        if not o:
            continue
        if name not in _VECTORS:
            sites.append((tab.Pos + o, fmt, f"{label} {name}"))
            continue
        start, n = tab.Vector(o), tab.VectorLen(o)
        sites.append((start - 4, "<I", f"{label} {name} length"))
        width = struct.calcsize(fmt)
        for k in range(min(n, 8)):  # the first elements: weights' bytes are buffers' business
            sites.append((start + k * width, fmt, f"{label} {name}[{k}]"))


def _option_sites(tab, label: str, sites: list) -> None:
    """Every field of an options table, its width guessed from the next field's position (<= 4 bytes)."""
    vtable = tab.Pos - struct.unpack_from("<i", tab.Bytes, tab.Pos)[0]
    n = (struct.unpack_from("<H", tab.Bytes, vtable)[0] - 4) // 2
    offs = sorted(o for o in (struct.unpack_from("<H", tab.Bytes, vtable + 4 + 2 * j)[0] for j in range(n)) if o)
    for o, nxt in zip(offs, offs[1:] + [offs[-1] + 4] if offs else []):
        width = {1: "<b", 2: "<h"}.get(min(nxt - o, 4), "<i")
        sites.append((tab.Pos + o, width, f"{label} option at +{o}"))


def patch_sites(data: bytes) -> list[tuple[int, str, str]]:
    """(byte position, struct format, what) of every scalar field the reader reads, in the file."""
    m = schema.Model.GetRootAs(data, 0)
    sites: list = []
    for name, slot in (("operator codes", 6), ("subgraphs", 8), ("buffers", 12)):
        o = m._tab.Offset(slot)
        if o:
            sites.append((m._tab.Vector(o) - 4, "<I", f"{name} length"))
    sub = m.Subgraphs(0)
    for name, slot in (("tensors", 4), ("operators", 10)):
        sites.append((sub._tab.Vector(sub._tab.Offset(slot)) - 4, "<I", f"{name} length"))
    _fields(sub._tab, _SUBGRAPH, "graph", sites)
    for i in range(sub.TensorsLength()):
        t = sub.Tensors(i)
        _fields(t._tab, _TENSOR, f"tensor {i}", sites)
        if t.Quantization() is not None:
            _fields(t.Quantization()._tab, _QUANT, f"tensor {i}", sites)
    for i in range(sub.OperatorsLength()):
        op = sub.Operators(i)
        _fields(op._tab, _OPERATOR, f"operator {i}", sites)
        if op.BuiltinOptions() is not None:
            _option_sites(op.BuiltinOptions(), f"operator {i}", sites)
    for i in range(m.OperatorCodesLength()):
        _fields(m.OperatorCodes(i)._tab, _OPCODE, f"operator code {i}", sites)
    for i in range(m.BuffersLength()):
        _fields(m.Buffers(i)._tab, _BUFFER, f"buffer {i}", sites)
    return sites


def _patch_value(rng, fmt: str, old):
    if fmt == "<f":
        return float(_pick(rng, _EDGE_FLOATS))
    lo, hi = _RANGES[fmt[1]]
    return _int(rng, lo, hi, near=int(old))


def _pack(m) -> bytes:
    b = flatbuffers.Builder(4096)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


PATCH_SHARE = 0.8  # of cases: fields overwritten in place (fast); the rest repack a changed model


class Mutator:
    """Cases of one model: ``case(seed)`` -> (bytes, what was changed). Most cases overwrite 1-4
    fields where they lie in the file; the others change the unpacked model (vectors longer or
    shorter, option tables swapped, quantization dropped) and pack it again, or truncate it."""

    def __init__(self, data: bytes):
        self.data = data
        self.model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
        self.sites = patch_sites(data)
        self.names = list(MUTATORS) + [TRUNCATE]

    def patched(self, rng) -> tuple[bytes, str]:
        out = bytearray(self.data)
        what = []
        for _ in range(1 if rng.random() < 0.6 else int(rng.integers(2, 5))):
            pos, fmt, label = self.sites[int(rng.integers(len(self.sites)))]
            value = _patch_value(rng, fmt, struct.unpack_from(fmt, out, pos)[0])
            struct.pack_into(fmt, out, pos, value)
            what.append(f"{label} -> {value}")
        return bytes(out), "; ".join(what)

    def case(self, seed: int) -> tuple[bytes, str]:
        rng = np.random.default_rng(seed)
        if rng.random() < PATCH_SHARE:
            return self.patched(rng)
        kind = self.names[int(rng.integers(len(self.names)))]
        if kind == TRUNCATE:
            cut = int(rng.integers(len(self.data)))
            return self.data[:cut], f"truncated to {cut} of {len(self.data)} bytes"
        undo = _Undo()
        what = []
        try:
            for _ in range(1 if rng.random() < 0.7 else int(rng.integers(2, 5))):
                name = self.names[int(rng.integers(len(MUTATORS)))]
                what.append(MUTATORS[name](self.model, rng, undo))
            return _pack(self.model), "; ".join(what)
        finally:
            undo.undo()


# ---------------------------------------------------------------- the run


@dataclass
class Crash:
    model: str
    seed: int
    what: str
    error: str
    trace: str


@dataclass
class FuzzResult:
    executions: int = 0
    compiled: int = 0
    refusals: int = 0
    crashes: list[Crash] = field(default_factory=list)
    refusal_kinds: dict[str, int] = field(default_factory=dict)

    def add(self, other: "FuzzResult") -> None:
        self.executions += other.executions
        self.compiled += other.compiled
        self.refusals += other.refusals
        self.crashes += other.crashes
        for k, v in other.refusal_kinds.items():
            self.refusal_kinds[k] = self.refusal_kinds.get(k, 0) + v


def run_case(data: bytes, board) -> Exception | None:
    """None if the model compiled, the ModelError if refused; any other exception propagates."""
    try:
        compile_model(data, board)
    except ModelError as exc:
        return exc
    return None


def fuzz_model(name: str, data: bytes, cases: int, first_seed: int = 0, board=None,
               into: FuzzResult | None = None) -> FuzzResult:
    """``cases`` mutations of a model, counted into ``into`` (a new result if None) as each ends:
    stopped by Ctrl-C, ``into`` holds the cases finished so far (the one cut short is not counted)."""
    board = board or load_board(BOARD)
    mut = Mutator(data)
    res = FuzzResult() if into is None else into
    for seed in range(first_seed, first_seed + cases):
        case, what = mut.case(seed)
        try:
            refusal = run_case(case, board)
        except Exception as exc:  # the fuzzer's job: record every non-ModelError as a crash
            res.executions += 1
            res.crashes.append(Crash(name, seed, what, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
            continue
        res.executions += 1
        if refusal is None:
            res.compiled += 1
        else:
            res.refusals += 1
            kind = type(refusal).__name__
            res.refusal_kinds[kind] = res.refusal_kinds.get(kind, 0) + 1
    return res


def replay(data: bytes, seed: int) -> tuple[bytes, str]:
    """The bytes and description of case ``seed`` of a model (to debug a crash)."""
    return Mutator(data).case(seed)
