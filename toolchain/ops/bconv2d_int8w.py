"""Last conv of a binary network: bit-packed +-1 input, int8 per-channel weights, exact int32
accumulator, folded BatchNorm (+ReLU) in float32 (``firmware/kernels/bconv2d_int8w.c``).

Inputs: ``[x (1,H,W,ceil(C/32)) uint32, filter (O,KH,KW,C) int8 const, scale (O,) float32
const, offset (O,) float32 const]``; output ``(1,OH,OW,O) float32``.
``acc_o = sum w * (+-1)``; ``y = float32(scale_o * float32(acc_o))`` then
``y = float32(y + offset_o)`` -- two roundings, never a fused multiply-add -- then
``max(0, y)`` when ``activation == "relu"``.
Attrs (front end): ``stride=(h, w)``, ``padding="same"|"valid"``, ``pad_value`` -1 (binary
padding, default) or 0 (a float conv zero-padding its +-1 input), ``activation``
"relu" (default) or "none". ``prepare`` adds ``pad=(top, left)``.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import ensure_prepared, require_dtype, tensor_in, tensor_out
from ._cparams import params_struct
from .bconv2d import check_int16_fields, check_packed, conv_fields, conv_geometry, batch_of, integer_conv, signs, signs_padded

KIND = "bconv2d_int8w"
TFLITE = ()
INPUTS = ("input", "filter", "scale", "offset")  # operand roles; '?' marks an optional one
BATCHED = True  # reference() takes a leading batch axis (reference.executor.run_graph_batch)


def prepare(op: Op, graph: Graph) -> None:
    x, w, y = tensor_in(op, graph), tensor_in(op, graph, 1), tensor_out(op, graph)
    require_dtype(w, "int8", "filter")
    if not w.is_const or len(w.shape) != 4:
        raise ValueError(f"filter {w.name!r} must be a constant [O, KH, KW, C] (got {w.shape})")
    o, c = w.shape[0], w.shape[3]
    check_packed(x, c, "input")
    require_dtype(y, "float32", "output")
    if len(y.shape) != 4 or y.shape[0] != 1 or y.shape[3] != o:
        raise ValueError(f"output {y.name!r} has shape {y.shape}; expected [1, OH, OW, {o}]")
    for i, role in ((2, "scale"), (3, "offset")):
        t = tensor_in(op, graph, i)
        require_dtype(t, "float32", role)
        if not t.is_const or t.size != o or not np.isfinite(t.data).all():
            raise ValueError(f"{role} {t.name!r} must be a constant of {o} finite float32 values")
    a = op.attrs
    a.setdefault("pad_value", -1)
    a.setdefault("activation", "relu")
    if a["pad_value"] not in (-1, 0):
        raise ValueError(f"pad_value {a['pad_value']!r} is not -1 or 0")
    if a["activation"] not in ("relu", "none"):
        raise ValueError(f"activation {a['activation']!r} is not 'relu' or 'none'")
    conv_geometry(op, x.shape[1:3], w.shape[1:3], y.shape[1:3])
    if 127 * int(np.prod(w.shape[1:])) >= 2**24:
        raise ValueError("the accumulator could exceed 2^24 and not convert to float32 exactly; split the layer")
    check_int16_fields(conv_fields(op, graph, c, o))


def accumulators(op: Op, graph: Graph, x: np.ndarray) -> np.ndarray:
    """Exact int64 acc [N, OH, OW, O] of a packed input (one sample, or a batch)."""
    ensure_prepared(op, graph, "pad", prepare)
    a = op.attrs
    w = tensor_in(op, graph, 1).data.astype(np.int64)
    out_hw = tensor_out(op, graph).shape[1:3]
    xs = signs(batch_of(x, tensor_in(op, graph)), w.shape[3])
    canvas = signs_padded(xs, a["pad"], out_hw, w.shape[1:3], a["stride"], int(a["pad_value"]))
    return integer_conv(canvas, w, out_hw, a["stride"])


def affine_relu(acc: np.ndarray, scale: np.ndarray, offset: np.ndarray, relu: bool) -> np.ndarray:
    """float32 scale*acc, then +offset, then ReLU: the kernel's exact rounding steps."""
    prod = np.float32(scale) * np.asarray(acc).astype(np.float32)
    y = (prod + np.float32(offset)).astype(np.float32)
    return np.where(y > 0, y, np.float32(0)).astype(np.float32) if relu else y


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    acc = accumulators(op, graph, inputs[0])
    y = affine_relu(acc, tensor_in(op, graph, 2).data.astype(np.float32),
                    tensor_in(op, graph, 3).data.astype(np.float32), op.attrs["activation"] == "relu")
    return [y]


def macs(op: Op, graph: Graph) -> int:
    w, y = tensor_in(op, graph, 1), tensor_out(op, graph)
    return int(np.prod(y.shape[1:3])) * int(np.prod(w.shape))


def scratch_bytes(op: Op, graph: Graph) -> int:
    """The +-1 input window of one output pixel as int16 (KH*KW*C) for the fast kernel."""
    return 2 * int(np.prod(tensor_in(op, graph, 1).shape[1:]))


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "pad", prepare)
    w = tensor_in(op, graph, 1)
    fields = conv_fields(op, graph, w.shape[3], w.shape[0])
    fields.update(pad_value=int(op.attrs["pad_value"]), relu=int(op.attrs["activation"] == "relu"))
    params = params_struct(ctx, "mf_bconv2d_int8w_params", fields)
    args = ", ".join(ctx.tensor(n) for n in op.inputs)
    scratch = f"(int16_t *)(void *){ctx.tensor('__scratch__')}"
    return f"mf_bconv2d_int8w(&{params}, {args}, {scratch}, {ctx.tensor(op.outputs[0])});"
