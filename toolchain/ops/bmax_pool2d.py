"""Max pooling of a bit-packed +-1 tensor (``firmware/kernels/bmax_pool2d.c``): the max of +-1
values is the OR of their bits, so the kernel ORs whole words.

Input ``(1,H,W,ceil(C/32)) uint32``, output ``(1,OH,OW,ceil(C/32)) uint32`` (packing as in
:mod:`mcuforge.ops.bconv2d`). Attrs (front end): ``channels`` C, ``filter=(h, w)``,
``stride=(h, w)``, ``padding="same"|"valid"``; the window is clipped to the image (padding never
wins, as in MAX_POOL_2D). ``prepare`` adds ``pad=(top, left)``. Max-pooling before or after the
sign gives the same bits (sign is monotonic), so it also stands for a pool of BatchNorm outputs.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from . import _pooling
from ._checks import ensure_prepared, tensor_in, tensor_out
from ._cparams import params_struct
from .bconv2d import batch_of, check_int16_fields, check_packed, pack_bits, unpack_bits

KIND = "bmax_pool2d"
TFLITE = ()
INPUTS = ("input",)  # operand roles; '?' marks an optional one
BATCHED = True  # reference() takes a leading batch axis (reference.executor.run_graph_batch)


def prepare(op: Op, graph: Graph) -> None:
    x, y = tensor_in(op, graph), tensor_out(op, graph)
    a = op.attrs
    try:
        c = int(a["channels"])
        fh, fw = (int(v) for v in a["filter"])
        sh, sw = (int(v) for v in a["stride"])
        padding = a["padding"]
    except KeyError as exc:
        raise ValueError(f"bmax_pool2d attr {exc.args[0]!r} is missing") from None
    if min(c, fh, fw, sh, sw) < 1:
        raise ValueError(f"channels {c}, filter {fh}x{fw} and stride {sh}x{sw} must be positive")
    check_packed(x, c, "input")
    check_packed(y, c, "output")
    h, w = x.shape[1:3]
    oh, ow = _pooling.out_size(padding, h, fh, sh), _pooling.out_size(padding, w, fw, sw)
    if (oh, ow) != tuple(y.shape[1:3]):
        raise ValueError(f"output is {tuple(y.shape[1:3])} but {padding} pooling of {(h, w)} with filter "
                         f"{fh}x{fw} stride {sh}x{sw} gives {(oh, ow)}")
    a.update(filter=(fh, fw), stride=(sh, sw),
             pad=(_pooling.pad_before(h, fh, sh, oh), _pooling.pad_before(w, fw, sw, ow)))
    check_int16_fields(_fields(op, graph))


def _fields(op: Op, graph: Graph) -> dict:
    x, y, a = tensor_in(op, graph), tensor_out(op, graph), op.attrs
    return {"in_h": x.shape[1], "in_w": x.shape[2], "out_h": y.shape[1], "out_w": y.shape[2],
            "channels": int(a["channels"]), "filter_h": a["filter"][0], "filter_w": a["filter"][1],
            "stride_h": a["stride"][0], "stride_w": a["stride"][1], "pad_h": a["pad"][0], "pad_w": a["pad"][1]}


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "pad", prepare)
    c = int(op.attrs["channels"])
    bits = unpack_bits(batch_of(inputs[0], tensor_in(op, graph)), c)
    y_t = tensor_out(op, graph)
    out = np.zeros((bits.shape[0],) + tuple(y_t.shape[1:3]) + (c,), dtype=np.uint8)  # an empty window stays -1
    for oy, ox, y0, y1, x0, x1 in _pooling.windows(op, graph):
        if y1 > y0 and x1 > x0:
            out[:, oy, ox] = bits[:, y0:y1, x0:x1].max(axis=(1, 2))
    return [pack_bits(out).astype(np.uint32)]


def macs(op: Op, graph: Graph) -> int:
    ensure_prepared(op, graph, "pad", prepare)
    y = tensor_out(op, graph)
    return int(np.prod(y.shape[1:])) * op.attrs["filter"][0] * op.attrs["filter"][1]


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "pad", prepare)
    params = params_struct(ctx, "mf_bmax_pool2d_params", _fields(op, graph))
    return f"mf_bmax_pool2d(&{params}, {ctx.tensor(op.inputs[0])}, {ctx.tensor(op.outputs[0])});"
