"""Geometry and checks shared by avg_pool2d and max_pool2d (TFLM pooling_common.cc semantics)."""
from __future__ import annotations

from ..graph.ir import Graph, Op
from ..graph.quant import activation_range
from ._checks import per_tensor, require_dtype, tensor_in, tensor_out


def out_size(padding: str, size: int, filt: int, stride: int) -> int:
    """TFLite ComputeOutSize (dilation 1)."""
    if padding == "same":
        return (size + stride - 1) // stride
    if padding == "valid":
        return (size + stride - filt) // stride
    raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")


def pad_before(size: int, filt: int, stride: int, out: int) -> int:
    """Padding at the top/left (TFLite ComputePaddingWithOffset; the odd pixel goes after)."""
    return max(0, (out - 1) * stride + filt - size) // 2


def prepare_pool(op: Op, graph: Graph) -> None:
    """Check the NHWC int8 shapes and fold geometry + fused activation into integer attrs."""
    x, y = tensor_in(op, graph), tensor_out(op, graph)
    require_dtype(x, "int8", "input")
    require_dtype(y, "int8", "output")
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise ValueError(f"pooling needs 4-D NHWC tensors, got input {x.shape} and output {y.shape}")
    try:
        fh, fw = (int(v) for v in op.attrs["filter"])
        sh, sw = (int(v) for v in op.attrs["stride"])
        padding = op.attrs["padding"]
    except KeyError as exc:
        raise ValueError(f"pooling attr {exc.args[0]!r} is missing") from None
    if min(fh, fw, sh, sw) < 1:
        raise ValueError(f"filter {fh}x{fw} and stride {sh}x{sw} must be positive")
    n, h, w, c = x.shape
    oh, ow = out_size(padding, h, fh, sh), out_size(padding, w, fw, sw)
    if (n, oh, ow, c) != tuple(y.shape):
        raise ValueError(f"output shape {y.shape} does not match {padding} pooling of {x.shape} "
                         f"with filter {fh}x{fw} stride {sh}x{sw} (expected {(n, oh, ow, c)})")
    in_s, in_zp = per_tensor(x, "input")
    out_s, out_zp = per_tensor(y, "output")
    # TFLM requires the same quantization on both sides (pooling never rescales).
    if abs(in_s - out_s) > 1e-6 or in_zp != out_zp:
        raise ValueError(f"input (scale {in_s:g}, zp {in_zp}) and output (scale {out_s:g}, zp {out_zp}) "
                         "quantization differ; int8 pooling needs them equal")
    act_min, act_max = activation_range(op.attrs.get("activation", "none"), out_s, out_zp)
    op.attrs.update(
        pad=(pad_before(h, fh, sh, oh), pad_before(w, fw, sw, ow)),
        act_min=int(act_min),
        act_max=int(act_max),
    )


def windows(op: Op, graph: Graph):
    """Yield (out_y, out_x, y0, y1, x0, x1): each output pixel's clipped input window."""
    _, h, w, _ = tensor_in(op, graph).shape
    _, oh, ow, _ = tensor_out(op, graph).shape
    fh, fw = op.attrs["filter"]
    sh, sw = op.attrs["stride"]
    ph, pw = op.attrs["pad"]
    for oy in range(oh):
        y_origin = oy * sh - ph
        y0, y1 = max(0, y_origin), min(h, y_origin + fh)
        for ox in range(ow):
            x_origin = ox * sw - pw
            yield oy, ox, y0, y1, max(0, x_origin), min(w, x_origin + fw)


def c_fields(op: Op, graph: Graph) -> dict:
    n, h, w, c = tensor_in(op, graph).shape
    _, oh, ow, _ = tensor_out(op, graph).shape
    return dict(
        batches=n, in_h=h, in_w=w, channels=c, out_h=oh, out_w=ow,
        filter_h=op.attrs["filter"][0], filter_w=op.attrs["filter"][1],
        stride_h=op.attrs["stride"][0], stride_w=op.attrs["stride"][1],
        pad_h=op.attrs["pad"][0], pad_w=op.attrs["pad"][1],
        act_min=op.attrs["act_min"], act_max=op.attrs["act_max"],
    )


def window_ops(op: Op, graph: Graph) -> int:
    """Input reads of one invocation (what pooling does instead of MACs)."""
    n, _, _, c = tensor_in(op, graph).shape
    return n * c * sum((y1 - y0) * (x1 - x0) for _, _, y0, y1, x0, x1 in windows(op, graph))
