"""The DSP-extension variants of the int8 conv family (``firmware/kernels/*_dsp.c``): which layers
they take, and the weights laid out at generation time in the order those kernels read them.

Private (``_``-prefixed), so the op registry does not load it as an op.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from .conv2d import wrap_int32


MAX_SHIFT = 22  # |q_hi| = |2 * off + 1| * 2^(e-2) < 2^28: K + acc * mult stays within int64


def requant_fits(op: Op) -> bool:
    """mf_requant.h's folded one-SMLAL path holds: multipliers >= 0, every shift right by 2 to 22."""
    a = op.attrs
    shift = np.asarray(a["shift"])
    return bool(np.all(np.asarray(a["multiplier"]) >= 0) and np.all(shift <= -2) and np.all(shift >= -MAX_SHIFT))


def requant_pairs(op: Op, channels: int) -> np.ndarray:
    """(channels, 2) int32: per channel (a per-tensor layer too) the multiplier and
    q_hi = (2 * output_offset + 1) * 2^(e-2) for its right shift by e (mf_requant.h's
    mf_requant_folded: the output offset folded in, ctz(q_hi) = e - 2). Padding channels, never
    stored, get multiplier 0 and q_hi 1."""
    a = op.attrs
    mult = np.asarray(a["multiplier"], np.int64).reshape(-1)
    e = -np.asarray(a["shift"], np.int64).reshape(-1)
    if mult.size == 1:  # per-tensor: the one value for every channel
        mult, e = np.repeat(mult, channels), np.repeat(e, channels)
    q_hi = (2 * int(a["output_offset"]) + 1) * np.left_shift(np.int64(1), e - 2)
    mult = np.pad(mult, (0, channels - mult.size))
    q_hi = np.pad(q_hi, (0, channels - q_hi.size), constant_values=1)
    return np.stack([mult, q_hi], axis=1).astype(np.int32)


def k4(depth: int) -> int:
    return (depth + 3) // 4 * 4


def folded_bias(w2d: np.ndarray, bias: np.ndarray | None, input_offset: int, channels: int) -> np.ndarray:
    """bias + input_offset * sum(w) per channel (wrapping int32, as the C sums), zero past ``channels``."""
    acc = w2d.astype(np.int64).sum(axis=1) * input_offset
    if bias is not None:
        acc = acc + bias
    out = np.zeros(channels, np.int64)
    out[: w2d.shape[0]] = wrap_int32(acc)
    return out.astype(np.int32)


def pair_filter(w2d: np.ndarray) -> np.ndarray:
    """(out_c, depth) int8 -> conv2d_dsp.h's layout: channel pairs, 4 weights of each in turn."""
    out_c, depth = w2d.shape
    pairs, d4 = (out_c + 1) // 2, k4(depth)
    padded = np.zeros((2 * pairs, d4), np.int8)
    padded[:out_c, :depth] = w2d
    # [pair, channel, group, 4] -> [pair, group, channel, 4]
    return padded.reshape(pairs, 2, d4 // 4, 4).transpose(0, 2, 1, 3).reshape(-1)


def aligned_array(ctx, suffix: str, values: np.ndarray, ctype: str, comment: str) -> str:
    """A const array that LDRD/LDM may read (4-byte aligned); returns its symbol."""
    from ..codegen.c_literals import c_array_body

    sym = f"{ctx.prefix}_{suffix}"
    ctx.decl(f"/* {comment} */\nstatic const {ctype} {sym}[{max(values.size, 1)}] MF_DSP_ALIGN = {{\n"
             f"{c_array_body(values if values.size else np.zeros(1, values.dtype))}\n}};")
    return sym


def _call_conv(op: Op, graph: Graph, ctx, params: str, w2d: np.ndarray) -> str:
    """The call of mf_conv2d_s8_dsp over the (out_c, depth) filter, paired, with the bias folded."""
    from .conv2d import bias_of

    pairs = (w2d.shape[0] + 1) // 2
    filt = aligned_array(ctx, "filter", pair_filter(w2d), "int8_t",
                         f"{op.inputs[1]}: channel pairs, 4 weights each in turn (conv2d_dsp.h)")
    bias = folded_bias(w2d, bias_of(op, graph), op.attrs["input_offset"], 2 * pairs).reshape(pairs, 2)
    rq = requant_pairs(op, 2 * pairs).reshape(pairs, 4)
    q = ctx.array("q", np.concatenate([bias, rq], axis=1), "int32_t",
                  "per channel pair: bias + input_offset * sum(weights) twice, then multiplier and q_hi twice")
    for name in op.inputs[1:]:
        if name:
            ctx.replace(name)
    return (f"mf_conv2d_s8_dsp(&{params}, {k4(w2d.shape[1])}, {ctx.tensor(op.inputs[0])}, {filt}, {q}, "
            f"(int16_t *)(void *){ctx.tensor('__scratch__')}, {ctx.tensor(op.outputs[0])});")


def emit_conv2d(op: Op, graph: Graph, ctx, params: str) -> str:
    w = graph.tensor(op.inputs[1])
    return _call_conv(op, graph, ctx, params, w.data.reshape(w.shape[0], -1))


def emit_fully_connected(op: Op, graph: Graph, ctx) -> str:
    """A fully connected layer as a 1x1 convolution over its batches (fully_connected_dsp.h)."""
    from .conv2d import c_params

    a = op.attrs
    params = c_params(ctx, "mf_conv2d_params", {
        "in_h": 1, "in_w": a["batches"], "in_c": a["accum_depth"], "out_h": 1, "out_w": a["batches"],
        "out_c": a["out_depth"], "filter_h": 1, "filter_w": 1, "stride_h": 1, "stride_w": 1,
        "dilation_h": 1, "dilation_w": 1, "pad_h": 0, "pad_w": 0,
        "input_offset": a["input_offset"], "output_offset": a["output_offset"],
        "act_min": a["act_min"], "act_max": a["act_max"], "per_channel": a["per_channel"],
    })
    return _call_conv(op, graph, ctx, params, graph.tensor(op.inputs[1]).data)


def conv_scratch_bytes(depth: int) -> int:
    """Two int16 im2col columns."""
    return 4 * k4(depth)


def conv_in_place_scratch(op: Op, graph: Graph) -> int | None:
    """0 where the DSP conv may write its output over its input (mcuforge.plan.arena): a 1x1 filter
    at stride 1 with no more output channels than input ones, since each pixel pair is copied into
    the column before its outputs are stored and outputs never run ahead of the pixels still
    unread. None otherwise."""
    x, w, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    if (op.attrs.get("variant") != "dsp" or tuple(w.shape[1:3]) != (1, 1) or tuple(op.attrs["stride"]) != (1, 1)
            or y.shape[3] > x.shape[3]):
        return None
    return 0


def depthwise_in_place_scratch(op: Op, graph: Graph) -> int | None:
    """The rows the DSP depthwise holds back when it writes over its input (depthwise_conv2d_dsp.h):
    output row y waits until input row y has no reader left, pad_h rows later, so pad_h + 1 rows.
    Where the output has the input's shape (stride 1); None otherwise."""
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if op.attrs.get("variant") != "dsp" or tuple(x.shape) != tuple(y.shape) or tuple(op.attrs["stride"]) != (1, 1):
        return None
    return (op.attrs["pad"][0] + 1) * y.shape[2] * y.shape[3]


def group_depthwise_filter(w: np.ndarray) -> np.ndarray:
    """(KH, KW, C) int8 -> depthwise_conv2d_dsp.h's layout: groups of 4 channels, each tap in turn."""
    taps, ch = w.shape[0] * w.shape[1], w.shape[2]
    padded = np.zeros((taps, k4(ch)), np.int8)
    padded[:, :ch] = w.reshape(taps, ch)
    return padded.reshape(taps, -1, 4).transpose(1, 0, 2).reshape(-1)


def emit_depthwise(op: Op, graph: Graph, ctx, params: str) -> str:
    """The call of mf_depthwise_conv2d_s8_dsp, its filter grouped and its bias folded."""
    from .conv2d import bias_of

    w = graph.tensor(op.inputs[1]).data[0]  # (KH, KW, C)
    ch = w.shape[2]
    filt = aligned_array(ctx, "filter", group_depthwise_filter(w), "int8_t",
                         f"{op.inputs[1]}: groups of 4 channels, each tap in turn (depthwise_conv2d_dsp.h)")
    groups = k4(ch) // 4
    bias = folded_bias(w.reshape(-1, ch).T, bias_of(op, graph), op.attrs["input_offset"], k4(ch)).reshape(groups, 4)
    rq = requant_pairs(op, k4(ch)).reshape(groups, 8)
    q = ctx.array("q", np.concatenate([bias, rq], axis=1), "int32_t",
                  "per group of 4 channels: bias + input_offset * sum(weights) each, then multiplier and q_hi each")
    for name in op.inputs[1:]:
        if name:
            ctx.replace(name)
    return (f"mf_depthwise_conv2d_s8_dsp(&{params}, {ctx.tensor(op.inputs[0])}, {filt}, {q}, "
            f"(void *){ctx.tensor('__scratch__')}, {ctx.tensor(op.outputs[0])});")


def depthwise_scratch_bytes(op: Op, graph: Graph) -> int:
    """Tap pointers (4 bytes each) and a row of zero points."""
    w = graph.tensor(op.inputs[1])
    return 4 * w.shape[1] * w.shape[2] + k4(w.shape[3])
