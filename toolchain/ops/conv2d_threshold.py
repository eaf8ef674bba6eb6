"""First conv of a binary network: int8 convolution, then folded BatchNorm+ReLU+sign as an
integer threshold on the int32 accumulator, bit-packed output (``firmware/kernels/conv2d_threshold.c``).

Inputs: ``[x (1,H,W,Cin) int8 per-tensor quantized, filter (O,KH,KW,Cin) int8 const (zero
point 0), threshold (O,) int32 const, flip (O,) uint8 const, bias (O,) int32 const (optional,
last so that no input slot is empty)]``;
output ``(1,OH,OW,ceil(O/32)) uint32`` packed as in :mod:`mcuforge.ops.bconv2d`.

``acc_o = sum w * (x - input_zp) (+ bias_o)``, taps in the padding contributing 0 (zero-point
padding, as conv2d); ``bit_o = acc_o >= thr_o`` if ``flip_o == 0`` else ``acc_o <= thr_o``.
Attrs (front end): ``stride=(h, w)``, ``padding="same"|"valid"``; ``prepare`` adds
``pad=(top, left)`` and ``input_offset`` and checks that no accumulator can overflow int32 (so
the numpy reference and the C agree for every input).
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import ensure_prepared, per_tensor, require_dtype, tensor_in, tensor_out
from ._cparams import params_struct
from .bconv2d import (batch_of, check_int16_fields, check_packed, check_threshold, conv_fields, conv_geometry,
                      integer_conv, pack_bits, signs_padded, threshold_bits)

KIND = "conv2d_threshold"
TFLITE = ()
INPUTS = ("input", "filter", "threshold", "flip", "bias?")  # operand roles; '?' marks an optional one
BATCHED = True  # reference() takes a leading batch axis (reference.executor.run_graph_batch)


def accumulator_range(weights: np.ndarray, input_offset: int, bias: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-channel [min, max] of acc over all int8 inputs (padding taps contribute 0)."""
    w = weights.reshape(weights.shape[0], -1).astype(np.int64)
    lo_x, hi_x = -128 + input_offset, 127 + input_offset
    lo = np.minimum(w * lo_x, w * hi_x).clip(max=0).sum(axis=1)  # a padding tap can give 0
    hi = np.maximum(w * lo_x, w * hi_x).clip(min=0).sum(axis=1)
    b = np.zeros(w.shape[0], dtype=np.int64) if bias is None else bias.astype(np.int64)
    return lo + b, hi + b


def _bias(op: Op, graph: Graph):
    return graph.tensor(op.inputs[4]) if len(op.inputs) > 4 and op.inputs[4] else None


def prepare(op: Op, graph: Graph) -> None:
    x, w, y = tensor_in(op, graph), tensor_in(op, graph, 1), tensor_out(op, graph)
    require_dtype(x, "int8", "input")
    require_dtype(w, "int8", "filter")
    _, zp = per_tensor(x, "input")
    if len(x.shape) != 4 or x.shape[0] != 1:
        raise ValueError(f"input {x.name!r} has shape {x.shape}; expected [1, H, W, C] (batch 1)")
    if not w.is_const or len(w.shape) != 4 or w.shape[3] != x.shape[3]:
        raise ValueError(f"filter {w.name!r} must be a constant [O, KH, KW, {x.shape[3]}] (got {w.shape})")
    if w.quant is not None and np.any(w.quant.zero_point != 0):
        raise ValueError("filter zero points must be 0 (symmetric int8 weights)")
    o = w.shape[0]
    b = _bias(op, graph)
    if b is not None:
        require_dtype(b, "int32", "bias")
        if not b.is_const or b.size != o:
            raise ValueError(f"bias {b.name!r} must be a constant with {o} values")
    check_packed(y, o, "output")
    check_threshold(op, graph, 2, o)
    conv_geometry(op, x.shape[1:3], w.shape[1:3], y.shape[1:3])
    op.attrs["input_offset"] = -zp
    lo, hi = accumulator_range(w.data, -zp, None if b is None else b.data.reshape(-1))
    if lo.min() < -(2**31) or hi.max() >= 2**31:
        raise ValueError("the int32 accumulator could overflow for this filter size; split the layer")
    check_int16_fields(conv_fields(op, graph, x.shape[3], o))


def accumulators(op: Op, graph: Graph, x: np.ndarray) -> np.ndarray:
    """int64 acc [N, OH, OW, O] of one input or a batch (exact: prepare() rules out int32 overflow)."""
    ensure_prepared(op, graph, "pad", prepare)
    a = op.attrs
    w = tensor_in(op, graph, 1).data.astype(np.int64)
    y_t = tensor_out(op, graph)
    out_hw, k_hw = y_t.shape[1:3], w.shape[1:3]
    xo = batch_of(x, tensor_in(op, graph)).astype(np.int64) + a["input_offset"]
    canvas = signs_padded(xo, a["pad"], out_hw, k_hw, a["stride"], 0)  # zero-point padding: offset input 0
    acc = integer_conv(canvas, w, out_hw, a["stride"])
    b = _bias(op, graph)
    if b is not None:
        acc += b.data.astype(np.int64).reshape(-1)
    return acc


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    acc = accumulators(op, graph, inputs[0])
    bits = threshold_bits(acc, tensor_in(op, graph, 2).data, tensor_in(op, graph, 3).data)
    return [pack_bits(bits).astype(np.uint32)]


def macs(op: Op, graph: Graph) -> int:
    w, y = tensor_in(op, graph, 1), tensor_out(op, graph)
    return int(np.prod(y.shape[1:3])) * int(np.prod(w.shape))


def scratch_bytes(op: Op, graph: Graph) -> int:
    """The offset input window of one output pixel as int16 (KH*KW*C) for the fast kernel."""
    return 2 * int(np.prod(tensor_in(op, graph, 1).shape[1:]))


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "pad", prepare)
    x, w = tensor_in(op, graph), tensor_in(op, graph, 1)
    fields = conv_fields(op, graph, x.shape[3], w.shape[0])
    fields["input_offset"] = op.attrs["input_offset"]
    params = params_struct(ctx, "mf_conv2d_threshold_params", fields)
    bias = ctx.tensor(op.inputs[4]) if _bias(op, graph) is not None else "NULL"
    return (f"mf_conv2d_threshold(&{params}, {ctx.tensor(op.inputs[0])}, {ctx.tensor(op.inputs[1])}, {bias}, "
            f"{ctx.tensor(op.inputs[2])}, {ctx.tensor(op.inputs[3])}, (int16_t *)(void *){ctx.tensor('__scratch__')}, "
            f"{ctx.tensor(op.outputs[0])});")
