"""The DSP-extension variants of the int8 conv family (``firmware/kernels/*_dsp.c``): which layers
they take, and the weights laid out at generation time in the order those kernels read them.

Private (``_``-prefixed), so the op registry does not load it as an op.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from .conv2d import wrap_int32


def requant_fits(op: Op) -> bool:
    """mf_requant.h's one-SMLAL path holds: multipliers >= 0, every shift right by 2 or more."""
    a = op.attrs
    return bool(np.all(np.asarray(a["multiplier"]) >= 0) and np.all(np.asarray(a["shift"]) <= -2))


def requant_array(op: Op, ctx, channels: int) -> str:
    """Per channel (a per-tensor layer too), ``channels`` long: the multiplier and round_hi = 2^(e-2)
    for a right shift by e (mf_requant.h; one CLZ gives e), side by side so that one LDRD reads both."""
    a = op.attrs
    mult = np.asarray(a["multiplier"], np.int64).reshape(-1)
    e = -np.asarray(a["shift"], np.int64).reshape(-1)
    if mult.size == 1:  # per-tensor: the one value for every channel
        mult, e = np.repeat(mult, channels), np.repeat(e, channels)
    mult = np.pad(mult, (0, channels - mult.size))  # padding channels: never stored
    rh = np.pad(np.left_shift(1, e - 2), (0, channels - e.size), constant_values=1)
    return ctx.array("rq", np.stack([mult, rh], axis=1).astype(np.int32), "int32_t",
                     "per channel: Q31 multiplier, 2^(e-2) for its right shift by e")


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
    bias = ctx.array("bias", folded_bias(w2d, bias_of(op, graph), op.attrs["input_offset"], 2 * pairs), "int32_t",
                     "bias + input_offset * sum(weights), per channel")
    rq = requant_array(op, ctx, 2 * pairs)
    for name in op.inputs[1:]:
        if name:
            ctx.replace(name)
    return (f"mf_conv2d_s8_dsp(&{params}, {k4(w2d.shape[1])}, {ctx.tensor(op.inputs[0])}, {filt}, {bias}, "
            f"{rq}, (int16_t *)(void *){ctx.tensor('__scratch__')}, {ctx.tensor(op.outputs[0])});")


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


def conv_scratch_bytes(depth: int, channels: int) -> int:
    """Two int16 im2col columns, then the int32 sums of two pixels for every channel pair."""
    return 4 * k4(depth) + 16 * ((channels + 1) // 2)


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
    bias = ctx.array("bias", folded_bias(w.reshape(-1, ch).T, bias_of(op, graph), op.attrs["input_offset"], k4(ch)),
                     "int32_t", "bias + input_offset * sum(weights), per channel")
    rq = requant_array(op, ctx, k4(ch))
    for name in op.inputs[1:]:
        if name:
            ctx.replace(name)
    return (f"mf_depthwise_conv2d_s8_dsp(&{params}, {ctx.tensor(op.inputs[0])}, {filt}, {bias}, {rq}, "
            f"(void *){ctx.tensor('__scratch__')}, {ctx.tensor(op.outputs[0])});")


def depthwise_scratch_bytes(op: Op, graph: Graph) -> int:
    """Tap pointers (4 bytes each) and a row of zero points."""
    w = graph.tensor(op.inputs[1])
    return 4 * w.shape[1] * w.shape[2] + k4(w.shape[3])
