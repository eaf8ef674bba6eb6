"""TFLite flatbuffer -> graph IR.

Reads the model with the schema module bundled in ``tflite-micro`` and ``flatbuffers``:
tensors (shape, dtype, per-tensor/per-channel quantization, constant buffers), operators in
order with their builtin options, and the graph inputs/outputs. Shape arithmetic is folded
(:mod:`mcuforge.graph.fold`), each remaining op gets a registered IR kind and *neutral* attrs
(below), and every op's ``prepare`` folds quantization into integers
(:mod:`mcuforge.graph.lower`). Anything unsupported raises before any C is written.

Neutral attrs set here (every op also gets ``source_op``, the TFLite builtin name):

=================  ===================================================================
conv2d             stride=(h, w), dilation=(h, w), padding="same"|"valid", activation
depthwise_conv2d   as conv2d (prepare adds depth_multiplier: output channels / input channels)
fully_connected    activation, keep_num_dims
avg/max_pool2d     filter=(h, w), stride=(h, w), padding, activation
mean               axes (as the model lists them; prepare sorts them, non-negative), keepdims;
                   the axes tensor is dropped
add                activation
softmax            beta
reshape            shape (the output shape); the shape tensor is dropped
quantize/dequant.  none
=================  ===================================================================

``activation`` is "none" | "relu" | "relu6" | "relu_n1_to_1" (TFLite's fused activation).
"""
from __future__ import annotations

import hashlib
import math
import os
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np

from .. import ops as op_registry
from ..graph.fold import RAW_DTYPES, fold_constants, foldable_ops, remove_dead_ops
from ..graph.ir import DTYPES, Graph, Op, Quant, Tensor
from ..graph.lower import lower as lower_graph
from .errors import ModelError, UnsupportedOpError

try:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
except ImportError as exc:  # pragma: no cover - tflite-micro is a hard dependency
    raise ImportError("mcuforge needs the 'tflite-micro' package to read .tflite files") from exc

_TENSOR_TYPES = {
    schema.TensorType.FLOAT32: "float32",
    schema.TensorType.INT32: "int32",
    schema.TensorType.UINT8: "uint8",
    schema.TensorType.INT64: "int64",
    schema.TensorType.BOOL: "bool",
    schema.TensorType.INT16: "int16",
    schema.TensorType.INT8: "int8",
}
_TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
_BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
ACTIVATIONS = {0: "none", 1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh", 5: "sign_bit"}
PADDINGS = {0: "same", 1: "valid"}


def load_tflite(model: str | os.PathLike | bytes | bytearray, name: str | None = None, lower: bool = True) -> Graph:
    """Read a .tflite file (path or bytes) into a lowered :class:`Graph`.

    ``lower=False`` stops after conversion to neutral attrs (no ``prepare``), for inspection.
    Raises :class:`ModelError` / :class:`UnsupportedOpError` naming the problem and the layer.
    """
    if isinstance(model, (bytes, bytearray, memoryview)):
        buf = bytes(model)
        name = name or "model"
    else:
        path = Path(model)
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        buf = path.read_bytes()
        name = name or path.stem
    graph = read_raw(buf, name)
    fold_constants(graph)
    convert_ops(graph)
    check_dataflow(graph)
    check_batch(graph)
    if lower:
        lower_graph(graph)
    return graph


# ---------------------------------------------------------------- raw flatbuffer reading

# What the flatbuffers runtime raises on bytes that do not decode (offsets past the end, bad
# vector lengths, bad strings); the fields it does decode are checked one by one below.
_DECODE_ERRORS = (struct.error, IndexError, ValueError, TypeError, OverflowError, MemoryError, RecursionError)
MAX_ELEMENTS = 2**31 - 1  # a tensor larger than this fits no microcontroller (and no int32 index)


def read_raw(buf: bytes, name: str = "model") -> Graph:
    """The flatbuffer as a graph whose op kinds are still TFLite builtin names (``CONV_2D``)
    and whose attrs are the builtin options by schema field name.

    Every index the file holds is checked where it is read (tensor, buffer and opcode indices,
    operands, graph inputs/outputs), so a corrupt file is refused naming the field."""
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelError("not a TFLite model: the flatbuffer identifier 'TFL3' is missing")
    try:
        model = _decode(buf)
    except _DECODE_ERRORS as exc:
        raise ModelError(f"corrupt TFLite flatbuffer: {type(exc).__name__}: {exc}") from None
    if not model.subgraphs:
        raise ModelError("TFLite model has no subgraph")
    sub = model.subgraphs[0]
    tensors_t = sub.tensors or []

    names: list[str] = []
    tensors: dict[str, Tensor] = {}
    for i, t in enumerate(tensors_t):
        tname = _unique_name(_tensor_name(t, i), tensors)
        names.append(tname)
        tensors[tname] = _read_tensor(t, i, tname, model, buf)

    def tensor_names(indices, where: str, optional: bool = False) -> list[str]:
        out = []
        for k, i in enumerate(indices if indices is not None else []):
            i = int(i)
            if optional and i == -1:
                out.append("")  # an absent optional input
            elif not 0 <= i < len(names):
                absent = " (-1 marks an absent optional input)" if optional else ""
                raise ModelError(f"corrupt TFLite model: {where} {k} refers to tensor {i}; the model has tensors "
                                 f"0..{len(names) - 1}{absent}")
            else:
                out.append(names[i])
        return out

    ops: list[Op] = []
    codes = model.operatorCodes or []
    for index, o in enumerate(sub.operators or []):
        if not 0 <= o.opcodeIndex < len(codes):
            raise ModelError(f"corrupt TFLite model: operator {index} has opcode index {o.opcodeIndex}; the model "
                             f"has {len(codes)} operator codes")
        opname = _op_name(codes[o.opcodeIndex])
        where = f"operator {index} ({opname})"
        ins = tensor_names(o.inputs, f"{where} input", optional=True)
        while ins and ins[-1] == "":
            ins.pop()  # trailing optional inputs that are absent (e.g. a bias)
        outs = tensor_names(o.outputs, f"{where} output")
        if not ins or not outs:
            raise ModelError(f"corrupt TFLite model: {where} has {len(ins)} input(s) and {len(outs)} output(s)")
        if not ins[0]:
            raise ModelError(f"corrupt TFLite model: {where} input 0 is absent (-1); only optional inputs may be")
        ops.append(Op(kind=opname, inputs=ins, outputs=outs, attrs=_options_dict(o.builtinOptions), index=index,
                      name=outs[0]))
    graph = Graph(
        name=name,
        tensors=tensors,
        ops=ops,
        inputs=tensor_names(sub.inputs, "graph input"),
        outputs=tensor_names(sub.outputs, "graph output"),
        source_hash=hashlib.sha256(buf).hexdigest(),
    )
    if not graph.inputs or not graph.outputs:
        raise ModelError(f"corrupt TFLite model: the graph has {len(graph.inputs)} input(s) and "
                         f"{len(graph.outputs)} output(s)")
    for n in graph.inputs:
        if graph.tensors[n].is_const:
            raise ModelError(f"graph input {n!r} is a constant tensor")
    return graph


class _Fields(SimpleNamespace):
    """The schema fields the reader uses, named as the schema's object API names them."""


def _vector(table, name: str):
    """A scalar vector field as numpy (the flatbuffers API returns 0 for an absent one)."""
    v = getattr(table, f"{name}AsNumpy")()
    return None if isinstance(v, int) else v


def _decode(buf: bytes) -> _Fields:
    """Decode only the fields the reader uses (the object API's ``ModelT`` unpacks every field of
    every table, several times slower). Field values are checked afterwards, where they are read."""
    m = schema.Model.GetRootAs(buf, 0)
    subgraphs = []
    if m.SubgraphsLength():
        sub = m.Subgraphs(0)
        tensors = []
        for i in range(sub.TensorsLength()):
            t = sub.Tensors(i)
            q = t.Quantization()
            quant = None if q is None else _Fields(
                scale=_vector(q, "Scale"), zeroPoint=_vector(q, "ZeroPoint"), quantizedDimension=q.QuantizedDimension())
            tensors.append(_Fields(name=t.Name(), shape=_vector(t, "Shape"), type=t.Type(), buffer=t.Buffer(),
                                   quantization=quant, isVariable=t.IsVariable(), sparsity=t.Sparsity()))
        operators = []
        for i in range(sub.OperatorsLength()):
            o = sub.Operators(i)
            operators.append(_Fields(
                opcodeIndex=o.OpcodeIndex(), inputs=_vector(o, "Inputs"), outputs=_vector(o, "Outputs"),
                builtinOptions=schema.BuiltinOptionsCreator(o.BuiltinOptionsType(), o.BuiltinOptions())))
        subgraphs.append(_Fields(tensors=tensors, operators=operators, inputs=_vector(sub, "Inputs"),
                                 outputs=_vector(sub, "Outputs")))
    codes = []
    for i in range(m.OperatorCodesLength()):
        c = m.OperatorCodes(i)
        codes.append(_Fields(builtinCode=c.BuiltinCode(), deprecatedBuiltinCode=c.DeprecatedBuiltinCode(),
                             customCode=c.CustomCode()))
    buffers = []
    for i in range(m.BuffersLength()):
        b = m.Buffers(i)
        buffers.append(_Fields(data=_vector(b, "Data"), offset=b.Offset(), size=b.Size()))
    return _Fields(subgraphs=subgraphs, operatorCodes=codes, buffers=buffers)


def _tensor_name(t: Any, i: int) -> str:
    raw = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else (t.name or "")
    # The converter joins fused node names with ';': the first one names the layer well enough.
    short = raw.split(";")[0].strip()
    return short or f"tensor_{i}"


def _unique_name(base: str, taken: dict) -> str:
    if base not in taken:
        return base
    k = 1
    while f"{base}_{k}" in taken:
        k += 1
    return f"{base}_{k}"


def _read_tensor(t: Any, index: int, name: str, model: Any, buf: bytes) -> Tensor:
    where = f"tensor {index} {name!r}"
    # A type mcuforge has no use for (RESOURCE, FLOAT64...) is kept by name: the op that uses it is
    # refused for what it is (convert_ops), unless the tensor holds data mcuforge would have to read.
    dtype = _TENSOR_TYPES.get(t.type) or _TYPE_NAMES.get(t.type, f"type code {t.type}").lower()
    shape = _read_shape(t.shape, where)
    if t.sparsity is not None:
        raise ModelError(f"{where} is sparse; sparse tensors are not supported")
    quant = _read_quant(t.quantization, shape, dtype, where)
    data = _buffer_data(model, t.buffer, buf, where)
    value = None
    if data is not None and len(data) > 0:
        if dtype not in RAW_DTYPES:
            raise ModelError(f"constant {where} has type {dtype.upper()}, which mcuforge does not read "
                             f"(it reads {', '.join(sorted(RAW_DTYPES))})")
        itemsize = np.dtype(RAW_DTYPES[dtype]).itemsize
        if len(data) % itemsize:
            raise ModelError(f"{where}: buffer {t.buffer} holds {len(data)} bytes, not a whole number of "
                             f"{dtype} values")
        value = np.frombuffer(data, dtype=RAW_DTYPES[dtype]).copy()
        expected = math.prod(shape)
        if value.size != expected:
            raise ModelError(f"{where}: buffer {t.buffer} holds {value.size} values, shape {shape} needs {expected}")
        value = value.reshape(shape)
    return Tensor(name=name, shape=shape, dtype=dtype, quant=quant, data=value,
                  persist="state" if t.isVariable else "")  # TFLite variables: state kept between invokes


def _read_shape(dims, where: str) -> tuple[int, ...]:
    shape = tuple(int(d) for d in (dims if dims is not None else []))
    for k, d in enumerate(shape):
        if d < 0:  # (0 is legal: an LSTM's unused intermediates are empty; check_operands refuses them)
            raise ModelError(f"{where} has shape {shape}: dimension {k} is {d} (dynamic dimensions are not "
                             "supported; convert with fixed shapes)")
    if math.prod(shape) > MAX_ELEMENTS:
        raise ModelError(f"{where} has shape {shape}: {math.prod(shape):,} elements, more than {MAX_ELEMENTS:,}")
    return shape


_INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-(2**15), 2**15 - 1), "int32": (-(2**31), 2**31 - 1)}


def _read_quant(q: Any, shape: tuple[int, ...], dtype: str, where: str) -> Quant | None:
    """Affine quantization, each field checked: scales finite and positive, one zero point per scale
    within the type's range, the quantized dimension an axis with one scale per element."""
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    scale = np.asarray(q.scale, dtype=np.float32).reshape(-1)
    bad = np.flatnonzero(~(np.isfinite(scale) & (scale > 0)))
    if bad.size:
        raise ModelError(f"{where}: quantization scale[{bad[0]}] is {scale[bad[0]]}; scales must be finite "
                         "and positive")
    zp = np.asarray(q.zeroPoint if q.zeroPoint is not None else [], dtype=np.int64).reshape(-1)
    if zp.size == 0:
        zp = np.zeros(scale.size, dtype=np.int64)
    if zp.size != scale.size:
        raise ModelError(f"{where}: quantization has {scale.size} scale(s) but {zp.size} zero point(s)")
    lo, hi = _INT_RANGES.get(dtype, (-(2**63), 2**63 - 1))
    bad = np.flatnonzero((zp < lo) | (zp > hi))
    if bad.size:
        raise ModelError(f"{where}: quantization zero_point[{bad[0]}] is {zp[bad[0]]}, outside the {dtype} "
                         f"range [{lo}, {hi}]")
    axis = 0
    if scale.size > 1:
        axis = int(q.quantizedDimension)
        if not 0 <= axis < len(shape) or shape[axis] != scale.size:
            raise ModelError(f"{where}: quantized_dimension {axis} with {scale.size} per-channel scales does not "
                             f"fit shape {shape} (needs an axis of {scale.size} elements)")
    return Quant(scale=scale, zero_point=zp, axis=axis)


def _buffer_data(model: Any, index: int, buf: bytes, where: str) -> bytes | None:
    buffers = model.buffers or []
    if index == 0:
        return None  # buffer 0 is the empty sentinel: an activation
    if not 0 < index < len(buffers):
        raise ModelError(f"{where} refers to buffer {index}; the model has buffers 0..{len(buffers) - 1}")
    b = buffers[index]
    if b.offset and b.offset > 1:  # large models keep buffers after the flatbuffer
        if b.offset + b.size > len(buf):
            raise ModelError(f"{where}: buffer {index} lies at bytes {b.offset}..{b.offset + b.size}, past the "
                             f"end of the {len(buf)}-byte file")
        return buf[b.offset : b.offset + b.size]
    if b.data is None:
        return None
    return np.asarray(b.data, dtype=np.uint8).tobytes()


def _op_name(code: Any) -> str:
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    name = _BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        custom = code.customCode.decode("utf-8", "replace") if isinstance(code.customCode, bytes) else code.customCode
        return f"CUSTOM:{custom}"
    return name


def _options_dict(opts: Any) -> dict[str, Any]:
    if opts is None:
        return {}
    attrs = {k: v for k, v in vars(opts).items() if not k.startswith("_")}
    attrs[OPTIONS_TYPE] = type(opts).__name__.removesuffix("T")
    return attrs


# ---------------------------------------------------------------- raw ops -> IR ops


def supported_names() -> list[str]:
    """What the error messages list: TFLite ops with a kernel, then shape ops folded at build time."""
    kernels = sorted(op_registry.tflite_names())
    return kernels + [f"{n} (shape arithmetic, folded)" for n in foldable_ops() if n not in kernels]


def convert_ops(graph: Graph) -> Graph:
    """Give every remaining raw op its IR kind and neutral attrs; refuse what cannot compile first,
    by its real reason: the quantization scheme, then unknown ops, then stateful tensors."""
    check_scheme(graph)
    kinds = op_registry.tflite_names()
    unknown = [op for op in graph.ops if op.kind not in kinds]
    if unknown:
        first = unknown[0]
        more = ""
        if len(unknown) > 1:
            more = " (also: " + ", ".join(f"{o.kind} at layer {o.index}" for o in unknown[1:6]) + ")"
        hint = _HINTS.get(first.kind, "")
        raise UnsupportedOpError(first.kind, first.index, f"no kernel for this op{more}{hint}", supported_names())
    for op in graph.ops:
        source = op.kind
        for n in filter(None, op.inputs + op.outputs):
            t = graph.tensors[n]
            if t.storage == "state":
                raise UnsupportedOpError(source, op.index, f"tensor {n!r} is a variable (state kept between "
                                         "invocations); stateful models are not supported")
            if 0 in t.shape:
                raise UnsupportedOpError(source, op.index, f"tensor {n!r} has shape {t.shape}: it is empty")
        op_registry.check_operands(op, kinds[source], source)
        _check_options_table(op)
        convert = _CONVERTERS.get(source, _generic_attrs)
        try:
            attrs = convert(op, graph)
        except UnsupportedOpError:
            raise
        except ModelError as exc:
            raise UnsupportedOpError(source, op.index, str(exc)) from exc
        attrs["source_op"] = source
        op.kind = kinds[source]
        op.attrs = attrs
    remove_dead_ops(graph)  # drops e.g. the now unreferenced RESHAPE shape / MEAN axes tensors
    for op in graph.ops:
        for n in op.inputs + op.outputs:
            if n and graph.tensors[n].dtype not in DTYPES:
                raise UnsupportedOpError(op.attrs["source_op"], op.index,
                                         f"tensor {n!r} has type {graph.tensors[n].dtype}, which is not supported")
    return graph


INT16X8 = ("int16 activations with int8 weights (the 16x8 scheme, EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_"
           "WEIGHTS_INT8) are not supported: mcuforge compiles full-integer int8 models; convert with "
           "converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] and int8 (or float32) "
           "input/output types")


def check_scheme(graph: Graph) -> None:
    """Refuse a 16x8 quantized model as such: its int16 activations (and int64 biases) would
    otherwise be refused one tensor type at a time."""
    for op in graph.ops:
        for n in op.outputs:
            t = graph.tensors[n]
            if t.dtype == "int16" and t.quant is not None and not t.is_const:
                raise UnsupportedOpError(op.kind, op.index, f"output {n!r} is int16: {INT16X8}")


def check_dataflow(graph: Graph) -> None:
    """Every operand is written before it is read: a constant, a graph input, or the output of an
    earlier operator; operators write activations only, each once; graph outputs are written."""
    written = set(graph.inputs)
    for op in graph.ops:
        source = op.attrs.get("source_op", op.kind)
        for k, n in enumerate(op.inputs):
            if n and not graph.tensors[n].is_const and n not in written:
                raise ModelError(f"corrupt TFLite model: operator {op.index} ({source}) input {k} reads tensor "
                                 f"{n!r}, which no earlier operator writes and which is not a graph input")
        for k, n in enumerate(op.outputs):
            t = graph.tensors[n]
            if t.is_const or n in written:
                what = "a constant tensor" if t.is_const else "a tensor already written (or a graph input)"
                raise ModelError(f"corrupt TFLite model: operator {op.index} ({source}) output {k} is {n!r}, "
                                 f"{what}")
            written.add(n)
    for n in graph.outputs:
        if n not in written:
            raise ModelError(f"corrupt TFLite model: graph output {n!r} is written by no operator")


# The options table each op reads its attrs from; ops marked True cannot do without theirs.
_OPTIONS_TABLES = {
    "CONV_2D": ("Conv2DOptions", True), "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", True),
    "AVERAGE_POOL_2D": ("Pool2DOptions", True), "MAX_POOL_2D": ("Pool2DOptions", True),
    "SOFTMAX": ("SoftmaxOptions", True), "FULLY_CONNECTED": ("FullyConnectedOptions", False),
    "ADD": ("AddOptions", False), "MEAN": ("ReducerOptions", False), "RESHAPE": ("ReshapeOptions", False),
}
OPTIONS_TYPE = "builtinOptionsType"  # the raw attr naming the options table (the schema's field name)


def _check_options_table(op: Op) -> None:
    expected, required = _OPTIONS_TABLES.get(op.kind, (None, False))
    got = op.attrs.get(OPTIONS_TYPE)
    if expected is None or got == expected or (got is None and not required):
        return
    found = f"{got} options" if got else "no options"
    raise UnsupportedOpError(op.kind, op.index, f"builtin options: the model has {found}, this op needs {expected}")


_DILATION_HINT = ("; a dilated convolution of a dynamic-batch Keras model converts to SPACE_TO_BATCH_ND/"
                  "BATCH_TO_SPACE_ND: build the model with keras.Input(..., batch_size=1) before converting "
                  "so that the converter fuses it")
_RECURRENT_HINT = "; recurrent layers (LSTM, GRU, RNN) are not supported: mcuforge compiles feed-forward models"
_HINTS = {"SPACE_TO_BATCH_ND": _DILATION_HINT, "BATCH_TO_SPACE_ND": _DILATION_HINT,
          **{op: _RECURRENT_HINT for op in ("UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM", "LSTM",
                                            "UNIDIRECTIONAL_SEQUENCE_RNN", "BIDIRECTIONAL_SEQUENCE_RNN", "RNN")}}


def check_batch(graph: Graph) -> None:
    for n in graph.inputs + graph.outputs:
        shape = graph.tensors[n].shape
        if len(shape) >= 2 and shape[0] != 1:
            raise ModelError(f"tensor {n!r} has batch size {shape[0]} (shape {shape}); mcuforge compiles batch-1 "
                             "models: convert the model with a batch size of 1")


def _activation(op: Op) -> str:
    code = int(op.attrs.get("fusedActivationFunction", 0))
    act = ACTIVATIONS.get(code, f"activation{code}")
    if act in ("tanh", "sign_bit") or act.startswith("activation"):
        raise ModelError(f"fused activation {act.upper()} is not supported")
    return act


def _padding(op: Op) -> str:
    code = int(op.attrs.get("padding", 0))
    if code not in PADDINGS:
        raise ModelError(f"padding mode {code} is not supported")
    return PADDINGS[code]


def _hw(op: Op, h: str, w: str) -> tuple[int, int]:
    """A (height, width) option pair (strides, dilations, filter sizes): each at least 1."""
    out = []
    for key in (h, w):
        v = int(op.attrs.get(key, 1))
        if v < 1:
            raise ModelError(f"option {key} is {v}; it must be at least 1")
        out.append(v)
    return out[0], out[1]


def _conv(op: Op, g: Graph) -> dict:
    return {
        "stride": _hw(op, "strideH", "strideW"),
        "dilation": _hw(op, "dilationHFactor", "dilationWFactor"),
        "padding": _padding(op),
        "activation": _activation(op),
    }


def _fully_connected(op: Op, g: Graph) -> dict:
    if int(op.attrs.get("weightsFormat", 0)) != 0:
        raise ModelError("shuffled (non-default) weights format is not supported")
    return {"activation": _activation(op), "keep_num_dims": bool(op.attrs.get("keepNumDims", False))}


def _pool(op: Op, g: Graph) -> dict:
    return {
        "filter": _hw(op, "filterHeight", "filterWidth"),
        "stride": _hw(op, "strideH", "strideW"),
        "padding": _padding(op),
        "activation": _activation(op),
    }


def _mean(op: Op, g: Graph) -> dict:
    if len(op.inputs) < 2 or not op.inputs[1] or not g.tensor(op.inputs[1]).is_const:
        raise ModelError("the reduction axes (input 1) must be a constant tensor")
    axes = g.tensor(op.inputs[1]).data
    if axes.dtype.kind not in "iu":
        raise ModelError(f"the reduction axes (input 1) are {axes.dtype}; they must be integers")
    op.inputs = op.inputs[:1]
    # prepare checks each axis against the input's rank and makes it non-negative
    return {"axes": tuple(int(a) for a in axes.reshape(-1)), "keepdims": bool(op.attrs.get("keepDims", False))}


def _add(op: Op, g: Graph) -> dict:
    return {"activation": _activation(op)}


def _softmax(op: Op, g: Graph) -> dict:
    beta = float(op.attrs.get("beta", 1.0))
    if not (math.isfinite(beta) and beta > 0):
        raise ModelError(f"option beta is {beta}; it must be finite and positive")
    return {"beta": beta}


def _reshape(op: Op, g: Graph) -> dict:
    op.inputs = op.inputs[:1]
    return {"shape": tuple(g.tensor(op.outputs[0]).shape)}


def _no_attrs(op: Op, g: Graph) -> dict:
    return {}


def _generic_attrs(op: Op, g: Graph) -> dict:
    """Ops without a dedicated converter: options in snake_case, activation named."""
    out: dict[str, Any] = {}
    for k, v in op.attrs.items():
        if k == OPTIONS_TYPE:
            continue
        if k == "fusedActivationFunction":
            out["activation"] = _activation(op)
            continue
        snake = "".join("_" + c.lower() if c.isupper() else c for c in k)
        out[snake] = v.tolist() if isinstance(v, np.ndarray) else v
    return out


_CONVERTERS: dict[str, Callable[[Op, Graph], dict]] = {
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _conv,  # prepare derives the depth multiplier from the shapes
    "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _pool,
    "MAX_POOL_2D": _pool,
    "MEAN": _mean,
    "ADD": _add,
    "SOFTMAX": _softmax,
    "RESHAPE": _reshape,
    "QUANTIZE": _no_attrs,
    "DEQUANTIZE": _no_attrs,
}
