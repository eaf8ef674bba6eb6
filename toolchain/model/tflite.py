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
depthwise_conv2d   as conv2d + depth_multiplier (output channels / input channels)
fully_connected    activation, keep_num_dims
avg/max_pool2d     filter=(h, w), stride=(h, w), padding, activation
mean               axes (sorted, non-negative tuple), keepdims; the axes tensor is dropped
add                activation
softmax            beta
reshape            shape (the output shape); the shape tensor is dropped
quantize/dequant.  none
=================  ===================================================================

``activation`` is "none" | "relu" | "relu6" | "relu_n1_to_1" (TFLite's fused activation).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
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
    check_batch(graph)
    if lower:
        lower_graph(graph)
    return graph


# ---------------------------------------------------------------- raw flatbuffer reading


def read_raw(buf: bytes, name: str = "model") -> Graph:
    """The flatbuffer as a graph whose op kinds are still TFLite builtin names (``CONV_2D``)
    and whose attrs are the builtin options by schema field name."""
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelError("not a TFLite model: the flatbuffer identifier 'TFL3' is missing")
    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(buf, 0))
    except Exception as exc:
        raise ModelError(f"corrupt TFLite flatbuffer: {exc}") from exc
    if not model.subgraphs:
        raise ModelError("TFLite model has no subgraph")
    sub = model.subgraphs[0]
    tensors_t = sub.tensors or []

    names: list[str] = []
    tensors: dict[str, Tensor] = {}
    for i, t in enumerate(tensors_t):
        tname = _unique_name(_tensor_name(t, i), tensors)
        names.append(tname)
        tensors[tname] = _read_tensor(t, tname, model, buf)

    def tensor_names(indices, where: str) -> list[str]:
        out = []
        for i in (indices if indices is not None else []):
            if i >= len(names):
                raise ModelError(f"corrupt TFLite model: {where} refers to tensor {i} of {len(names)}")
            out.append(names[i] if i >= 0 else "")  # -1: an absent optional input
        return out

    ops: list[Op] = []
    for index, o in enumerate(sub.operators or []):
        if not 0 <= o.opcodeIndex < len(model.operatorCodes or []):
            raise ModelError(f"corrupt TFLite model: operator {index} has opcode index {o.opcodeIndex}")
        opname = _op_name(model, o.opcodeIndex)
        ins = tensor_names(o.inputs, f"operator {index}")
        while ins and ins[-1] == "":
            ins.pop()  # trailing optional inputs that are absent (e.g. a bias)
        outs = tensor_names(o.outputs, f"operator {index}")
        if not ins or not outs:
            raise ModelError(f"corrupt TFLite model: operator {index} ({opname}) has {len(ins)} input(s) and "
                             f"{len(outs)} output(s)")
        ops.append(Op(kind=opname, inputs=ins, outputs=outs, attrs=_options_dict(o.builtinOptions), index=index,
                      name=outs[0] if outs else f"op{index}"))
    graph = Graph(
        name=name,
        tensors=tensors,
        ops=ops,
        inputs=tensor_names(sub.inputs, "the graph inputs"),
        outputs=tensor_names(sub.outputs, "the graph outputs"),
        source_hash=hashlib.sha256(buf).hexdigest(),
    )
    for n in graph.inputs:
        if graph.tensors[n].is_const:
            raise ModelError(f"graph input {n!r} is a constant tensor")
    return graph


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


def _read_tensor(t: Any, name: str, model: Any, buf: bytes) -> Tensor:
    dtype = _TENSOR_TYPES.get(t.type, _TYPE_NAMES.get(t.type, f"type{t.type}").lower())
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
    if t.sparsity is not None:
        raise ModelError(f"tensor {name!r} is sparse; sparse tensors are not supported")
    if t.isVariable:
        raise ModelError(f"tensor {name!r} is a variable (stateful model); not supported")
    quant = None
    q = t.quantization
    if q is not None and q.scale is not None and len(q.scale) > 0:
        zp = np.asarray(q.zeroPoint if q.zeroPoint is not None else [0], dtype=np.int64)
        if zp.size == 0:
            zp = np.zeros(1, dtype=np.int64)
        quant = Quant(scale=np.asarray(q.scale, dtype=np.float32), zero_point=zp, axis=int(q.quantizedDimension))
    data = _buffer_data(model, t.buffer, buf)
    value = None
    if data is not None and len(data) > 0:
        if dtype not in RAW_DTYPES:
            raise ModelError(f"constant tensor {name!r} has unsupported type {dtype}")
        value = np.frombuffer(data, dtype=RAW_DTYPES[dtype]).copy()
        expected = int(np.prod(shape)) if shape else 1
        if value.size != expected:
            raise ModelError(f"constant tensor {name!r}: buffer holds {value.size} values, shape {shape} needs {expected}")
        value = value.reshape(shape)
    return Tensor(name=name, shape=shape, dtype=dtype, quant=quant, data=value)


def _buffer_data(model: Any, index: int, buf: bytes) -> bytes | None:
    if not model.buffers or index <= 0 or index >= len(model.buffers):
        return None
    b = model.buffers[index]
    if b.offset and b.offset > 1:  # large models keep buffers after the flatbuffer
        return buf[b.offset : b.offset + b.size]
    if b.data is None:
        return None
    return np.asarray(b.data, dtype=np.uint8).tobytes()


def _op_name(model: Any, opcode_index: int) -> str:
    code = model.operatorCodes[opcode_index]
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    name = _BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
        return f"CUSTOM:{custom}"
    return name


def _options_dict(opts: Any) -> dict[str, Any]:
    if opts is None:
        return {}
    return {k: v for k, v in vars(opts).items() if not k.startswith("_")}


# ---------------------------------------------------------------- raw ops -> IR ops


def supported_names() -> list[str]:
    """What the error messages list: TFLite ops with a kernel, then shape ops folded at build time."""
    kernels = sorted(op_registry.tflite_names())
    return kernels + [f"{n} (shape arithmetic, folded)" for n in foldable_ops() if n not in kernels]


def convert_ops(graph: Graph) -> Graph:
    """Give every remaining raw op its IR kind and neutral attrs; reject unknown ops first."""
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


_DILATION_HINT = ("; a dilated convolution of a dynamic-batch Keras model converts to SPACE_TO_BATCH_ND/"
                  "BATCH_TO_SPACE_ND: build the model with keras.Input(..., batch_size=1) before converting "
                  "so that the converter fuses it")
_HINTS = {"SPACE_TO_BATCH_ND": _DILATION_HINT, "BATCH_TO_SPACE_ND": _DILATION_HINT}


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


def _hw(op: Op, h: str, w: str, default: int = 1) -> tuple[int, int]:
    return int(op.attrs.get(h, default) or default), int(op.attrs.get(w, default) or default)


def _conv(op: Op, g: Graph) -> dict:
    return {
        "stride": _hw(op, "strideH", "strideW"),
        "dilation": _hw(op, "dilationHFactor", "dilationWFactor"),
        "padding": _padding(op),
        "activation": _activation(op),
    }


def _depthwise(op: Op, g: Graph) -> dict:
    attrs = _conv(op, g)
    in_ch = g.tensor(op.inputs[0]).shape[-1]
    out_ch = g.tensor(op.outputs[0]).shape[-1]
    if in_ch <= 0 or out_ch % in_ch:
        raise ModelError(f"output channels {out_ch} are not a multiple of input channels {in_ch}")
    attrs["depth_multiplier"] = out_ch // in_ch
    return attrs


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
    if len(op.inputs) < 2 or not g.tensor(op.inputs[1]).is_const:
        raise ModelError("the reduction axes must be a constant tensor")
    rank = len(g.tensor(op.inputs[0]).shape)
    axes = sorted({int(a) % rank for a in np.atleast_1d(g.tensor(op.inputs[1]).data)})
    op.inputs = op.inputs[:1]
    return {"axes": tuple(axes), "keepdims": bool(op.attrs.get("keepDims", False))}


def _add(op: Op, g: Graph) -> dict:
    return {"activation": _activation(op)}


def _softmax(op: Op, g: Graph) -> dict:
    return {"beta": float(op.attrs.get("beta", 1.0))}


def _reshape(op: Op, g: Graph) -> dict:
    op.inputs = op.inputs[:1]
    return {"shape": tuple(g.tensor(op.outputs[0]).shape)}


def _no_attrs(op: Op, g: Graph) -> dict:
    return {}


def _generic_attrs(op: Op, g: Graph) -> dict:
    """Ops without a dedicated converter: options in snake_case, activation named."""
    out: dict[str, Any] = {}
    for k, v in op.attrs.items():
        if k == "fusedActivationFunction":
            out["activation"] = _activation(op)
            continue
        snake = "".join("_" + c.lower() if c.isupper() else c for c in k)
        out[snake] = v.tolist() if isinstance(v, np.ndarray) else v
    return out


_CONVERTERS: dict[str, Callable[[Op, Graph], dict]] = {
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _depthwise,
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
