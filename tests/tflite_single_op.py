"""One-operator .tflite flatbuffers written from single-op IR test graphs, run in TFLM.

The model is written with the ``flatbuffers`` builder and the TFLite schema module inside
tflite-micro, not through the Keras converter, so it carries exactly the quantization
parameters of the IR graph (scales, zero points, per-channel axis, int32 bias, weights).
TFLM then computes its own multipliers and shifts from those scales: an oracle that shares
no code with mcuforge's ``prepare()``.

    buf = to_tflite(graph)                          # graph.ops[0] is the one op
    y = run_tflm(tflm.Interpreter.from_bytes(buf), [x])
"""
from __future__ import annotations

import flatbuffers
import numpy as np
from tflite_micro.python.tflite_micro import runtime as tflm
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as S

from mcuforge.graph.ir import Graph

TYPES = {"int8": S.TensorType.INT8, "float32": S.TensorType.FLOAT32, "int32": S.TensorType.INT32}
ACTIVATION_CODES = {"none": 0, "relu": 1, "relu_n1_to_1": 2, "relu6": 3}
PADDING = {"same": S.Padding.SAME, "valid": S.Padding.VALID}
OPCODES = {"avg_pool2d": "AVERAGE_POOL_2D", "max_pool2d": "MAX_POOL_2D", "mean": "MEAN", "add": "ADD",
           "softmax": "SOFTMAX", "quantize": "QUANTIZE", "dequantize": "DEQUANTIZE", "reshape": "RESHAPE",
           "conv2d": "CONV_2D", "depthwise_conv2d": "DEPTHWISE_CONV_2D", "fully_connected": "FULLY_CONNECTED"}


def _options(op, graph: Graph) -> tuple[int, object, list[tuple[str, np.ndarray]]]:
    """(builtin options type, options object, extra constant int32 inputs) for one IR op.
    Only the op's attributes as a model file states them are read, never prepare()'s results."""
    a = op.attrs
    if op.kind in ("avg_pool2d", "max_pool2d"):
        o = S.Pool2DOptionsT()
        o.padding = PADDING[a["padding"]]
        o.filterHeight, o.filterWidth = a["filter"]
        o.strideH, o.strideW = a["stride"]
        o.fusedActivationFunction = ACTIVATION_CODES[a["activation"]]
        return S.BuiltinOptions.Pool2DOptions, o, []
    if op.kind in ("conv2d", "depthwise_conv2d"):
        o = S.Conv2DOptionsT() if op.kind == "conv2d" else S.DepthwiseConv2DOptionsT()
        o.padding = PADDING[a["padding"]]
        o.strideH, o.strideW = a["stride"]
        o.dilationHFactor, o.dilationWFactor = a["dilation"]
        o.fusedActivationFunction = ACTIVATION_CODES[a["activation"]]
        if op.kind == "conv2d":
            return S.BuiltinOptions.Conv2DOptions, o, []
        o.depthMultiplier = a["depth_multiplier"]
        return S.BuiltinOptions.DepthwiseConv2DOptions, o, []
    if op.kind == "fully_connected":
        o = S.FullyConnectedOptionsT()
        o.fusedActivationFunction = ACTIVATION_CODES[a["activation"]]
        o.keepNumDims = bool(a["keep_num_dims"])
        return S.BuiltinOptions.FullyConnectedOptions, o, []
    if op.kind == "mean":
        o = S.ReducerOptionsT()
        o.keepDims = a["keepdims"]
        return S.BuiltinOptions.ReducerOptions, o, [("axes", np.array(a["axes"], np.int32))]
    if op.kind == "add":
        o = S.AddOptionsT()
        o.fusedActivationFunction = ACTIVATION_CODES[a["activation"]]
        return S.BuiltinOptions.AddOptions, o, []
    if op.kind == "softmax":
        o = S.SoftmaxOptionsT()
        o.beta = a["beta"]
        return S.BuiltinOptions.SoftmaxOptions, o, []
    if op.kind == "reshape":
        shape = graph.tensors[op.outputs[0]].shape
        o = S.ReshapeOptionsT()
        o.newShape = list(shape)
        return S.BuiltinOptions.ReshapeOptions, o, [("shape", np.array(shape, np.int32))]
    return 0, None, []


def to_tflite(graph: Graph) -> bytes:
    """A one-operator .tflite flatbuffer for a single-op IR graph: its tensors (constants with
    their data), quantization parameters as they are, and the op's options."""
    op = graph.ops[0]
    options_type, options, consts = _options(op, graph)
    model = S.ModelT()
    model.version = 3
    model.description = "mcuforge single-op test model"
    code = getattr(S.BuiltinOperator, OPCODES[op.kind])
    opcode = S.OperatorCodeT()
    opcode.builtinCode, opcode.deprecatedBuiltinCode, opcode.version = code, min(code, 127), 1
    model.operatorCodes = [opcode]
    model.buffers = [S.BufferT()]
    sub = S.SubGraphT()
    sub.tensors = []
    index: dict[str, int] = {}

    def add_tensor(name, shape, dtype, quant=None, data=None):
        t = S.TensorT()
        t.name, t.shape, t.type = name, list(shape), TYPES[dtype]
        buf = S.BufferT()
        if data is not None:
            buf.data = np.ascontiguousarray(data).view(np.uint8).reshape(-1).tolist()
        model.buffers.append(buf)
        t.buffer = len(model.buffers) - 1
        if quant is not None:
            q = S.QuantizationParametersT()
            q.scale = [float(v) for v in quant.scale.reshape(-1)]
            q.zeroPoint = [int(v) for v in quant.zero_point.reshape(-1)]
            q.quantizedDimension = int(quant.axis or 0)
            t.quantization = q
        sub.tensors.append(t)
        index[name] = len(sub.tensors) - 1

    for name, t in graph.tensors.items():
        add_tensor(name, t.shape, t.dtype, t.quant, t.data)
    for name, data in consts:
        add_tensor(name, data.shape, "int32", data=data)
    o = S.OperatorT()
    o.opcodeIndex = 0
    # a missing bias is left out, not written as -1: TFLM's depthwise conv crashes on -1
    o.inputs = [index[n] for n in op.inputs] + [index[n] for n, _ in consts]
    o.outputs = [index[n] for n in op.outputs]
    o.builtinOptionsType, o.builtinOptions = options_type, options
    sub.operators = [o]
    sub.inputs = [index[n] for n in graph.inputs]
    sub.outputs = [index[n] for n in graph.outputs]
    model.subgraphs = [sub]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def interpreter(graph: Graph):
    """A TFLM interpreter over the graph's one-op model. The arena is sized from the graph:
    TFLM's default (10x the model) can be too small for a small model's activations, and then
    the interpreter crashes the process instead of failing."""
    buf = to_tflite(graph)
    activations = sum(int(np.prod(t.shape)) * 4 for t in graph.tensors.values())
    return tflm.Interpreter.from_bytes(buf, arena_size=max(10 * len(buf), 4 * activations + 64 * 1024))


def run_tflm(interp, inputs: list[np.ndarray]) -> np.ndarray:
    for i, x in enumerate(inputs):
        interp.set_input(x, i)
    interp.invoke()
    return interp.get_output(0)
