"""Binary convolution: bit-packed +-1 input and weights, folded BatchNorm+ReLU+sign as an integer
threshold, bit-packed output (``firmware/kernels/bconv2d.c``).

Packing (IR dtype ``uint32``): channel c of a pixel is bit c % 32 of word c // 32; bit 1 = +1,
bit 0 = -1; unused high bits of the last word are 0 (producers) and ignored (consumers).

Inputs: ``[x (1,H,W,ceil(C/32)) uint32, filter (O,KH,KW,ceil(C/32)) uint32 const,
threshold (O,) int32 const, flip (O,) uint8 const]``; output ``(1,OH,OW,ceil(O/32)) uint32``.
Attrs (front end): ``in_channels`` C, ``stride=(h, w)``, ``padding="same"|"valid"``; "same"
pads with -1 (bit 0), so every output sums C*KH*KW terms:
``dot_o = C*KH*KW - 2*popcount(x XOR w)`` and ``bit_o = dot_o >= thr_o`` if ``flip_o == 0``
else ``dot_o <= thr_o``. ``prepare`` adds ``pad=(top, left)`` (TFLite's: the odd pixel of
"same" padding goes at the bottom/right).

Also the helpers the other binary ops share: :func:`pack_bits`, :func:`unpack_bits`,
:func:`words`, :func:`threshold_bits`, :func:`signs_padded`, :func:`integer_conv`,
:func:`conv_geometry`.
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ._checks import ensure_prepared, require_dtype, tensor_in, tensor_out
from ._cparams import params_struct
from .conv2d import compute_padding, conv_output_size

KIND = "bconv2d"
TFLITE = ()
INPUTS = ("input", "filter", "threshold", "flip")  # operand roles; '?' marks an optional one
BATCHED = True  # reference() takes a leading batch axis (reference.executor.run_graph_batch)


# ---------------------------------------------------------------- bit packing shared by binary ops


def words(channels: int) -> int:
    """uint32 words per pixel for ``channels`` bits."""
    return (int(channels) + 31) // 32


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """bool/0-1 array [..., C] -> uint32 [..., ceil(C/32)] (channel c -> word c//32, bit c%32)."""
    bits = np.asarray(bits)
    if bits.size and not np.isin(bits, (0, 1)).all():
        raise ValueError("pack_bits takes 0/1 (or bool) values; map +1 -> 1 and -1 -> 0 first")
    c = bits.shape[-1]
    padded = np.zeros(bits.shape[:-1] + (words(c) * 32,), dtype=np.uint64)
    padded[..., :c] = bits
    weights = np.uint64(1) << np.arange(32, dtype=np.uint64)
    grouped = padded.reshape(bits.shape[:-1] + (words(c), 32))
    return (grouped * weights).sum(axis=-1).astype(np.uint32)


def unpack_bits(packed: np.ndarray, channels: int) -> np.ndarray:
    """uint32 [..., W] -> uint8 0/1 [..., channels]; bits beyond ``channels`` are ignored."""
    packed = np.asarray(packed, dtype=np.uint32)
    if packed.shape[-1] != words(channels):
        raise ValueError(f"{packed.shape[-1]} words per pixel cannot hold {channels} channels "
                         f"({words(channels)} needed)")
    shifts = np.arange(32, dtype=np.uint32)
    bits = (packed[..., :, None] >> shifts) & np.uint32(1)
    return bits.reshape(packed.shape[:-1] + (-1,))[..., :channels].astype(np.uint8)


def signs(packed: np.ndarray, channels: int) -> np.ndarray:
    """uint32 packed -> int64 +-1 values [..., channels]."""
    return unpack_bits(packed, channels).astype(np.int64) * 2 - 1


def threshold_bits(acc: np.ndarray, threshold: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """The folded BatchNorm+ReLU+sign decision on an integer accumulator (last axis = channel)."""
    acc = np.asarray(acc, dtype=np.int64)
    thr = np.asarray(threshold, dtype=np.int64)
    return np.where(np.asarray(flip) != 0, acc <= thr, acc >= thr)


def signs_padded(x: np.ndarray, pad: tuple[int, int], out_hw, k_hw, stride, value: int) -> np.ndarray:
    """x [..., H, W, C] placed in a canvas covering every tap of every output, filled with ``value``
    (leading axes, e.g. a batch, are kept)."""
    (oh, ow), (kh, kw), (sh, sw), (ph, pw) = out_hw, k_hw, stride, pad
    h, w = x.shape[-3:-1]
    need_h = max((oh - 1) * sh + kh, ph + h)
    need_w = max((ow - 1) * sw + kw, pw + w)
    canvas = np.full(x.shape[:-3] + (need_h, need_w, x.shape[-1]), value, dtype=np.int64)
    canvas[..., ph : ph + h, pw : pw + w, :] = x
    return canvas


def tap_slabs(canvas: np.ndarray, out_hw, k_hw, stride):
    """Yield (ky, kx, slab[..., oy, ox, c]) of the input each filter tap sees."""
    (oh, ow), (kh, kw), (sh, sw) = out_hw, k_hw, stride
    for ky in range(kh):
        for kx in range(kw):
            yield ky, kx, canvas[..., ky : ky + (oh - 1) * sh + 1 : sh, kx : kx + (ow - 1) * sw + 1 : sw, :]


def integer_conv(canvas: np.ndarray, w: np.ndarray, out_hw, stride) -> np.ndarray:
    """sum over taps of canvas-slab @ w[o, ky, kx, :] as int64 [..., OH, OW, O]. Integer inputs whose
    sums stay below 2^53 (checked) are exact in float64, which numpy multiplies with BLAS."""
    wf = np.asarray(w, dtype=np.float64)
    cf = np.asarray(canvas, dtype=np.float64)
    bound = float(np.abs(cf).max(initial=0)) * float(np.abs(wf).sum(axis=(1, 2, 3)).max(initial=0))
    if bound >= 2.0**53:
        raise ValueError("accumulators too large for an exact float64 reference")
    shape = cf.shape[:-3] + tuple(out_hw) + (wf.shape[0],)
    acc = np.zeros((int(np.prod(shape[:-1])), shape[-1]), dtype=np.float64)
    for ky, kx, slab in tap_slabs(cf, out_hw, wf.shape[1:3], stride):
        # a contiguous 2-D copy of the strided slab: one BLAS call (N-D matmul on a view is slow)
        acc += np.ascontiguousarray(slab).reshape(acc.shape[0], -1) @ wf[:, ky, kx, :].T
    return acc.reshape(shape).astype(np.int64)


def batch_of(x, t) -> np.ndarray:
    """``x`` as [N, *t.shape[1:]]: one sample (N = 1, the graph's shape) or a batch of them
    (``reference.executor.run_graph_batch``)."""
    return np.asarray(x).reshape((-1,) + tuple(t.shape[1:]))


def conv_geometry(op: Op, in_hw, k_hw, out_hw) -> None:
    """Check the output size for ``padding``/``stride``; set ``stride`` and ``pad`` attrs."""
    a = op.attrs
    sh, sw = (int(s) for s in a.get("stride", (1, 1)))
    if sh < 1 or sw < 1:
        raise ValueError(f"stride {(sh, sw)} must be >= 1")
    if tuple(a.get("dilation", (1, 1))) != (1, 1):
        raise ValueError(f"dilation {a['dilation']} is not supported (1 only)")
    mode = a.get("padding", "valid")
    if mode not in ("same", "valid"):
        raise ValueError(f"padding {mode!r} is not 'same' or 'valid'")
    want = (conv_output_size(mode, in_hw[0], k_hw[0], sh), conv_output_size(mode, in_hw[1], k_hw[1], sw))
    if want != tuple(out_hw):
        raise ValueError(f"output is {tuple(out_hw)} but {mode} padding gives {want}")
    a["stride"] = (sh, sw)
    a["pad"] = (compute_padding(sh, 1, in_hw[0], k_hw[0], want[0]), compute_padding(sw, 1, in_hw[1], k_hw[1], want[1]))


def check_packed(t, channels: int, role: str) -> None:
    require_dtype(t, "uint32", role)
    if len(t.shape) != 4 or t.shape[0] != 1:
        raise ValueError(f"{role} tensor {t.name!r} has shape {t.shape}; expected [1, H, W, words] (batch 1)")
    if t.shape[3] != words(channels):
        raise ValueError(f"{role} tensor {t.name!r} has {t.shape[3]} words per pixel; {channels} channels "
                         f"need {words(channels)}")


def check_unused_bits_zero(t, channels: int, role: str) -> None:
    """Constant packed data must keep the unused bits of the last word 0 (the fast kernel relies on it)."""
    r = channels % 32
    if r and np.any(t.data.reshape(-1, t.shape[-1])[:, -1].astype(np.uint64) >> np.uint64(r)):
        raise ValueError(f"{role} tensor {t.name!r} has bits set beyond channel {channels} in its last word")


def check_threshold(op: Op, graph: Graph, i_thr: int, channels: int) -> None:
    thr, flip = tensor_in(op, graph, i_thr), tensor_in(op, graph, i_thr + 1)
    require_dtype(thr, "int32", "threshold")
    require_dtype(flip, "uint8", "flip")
    for t in (thr, flip):
        if not t.is_const or t.size != channels:
            raise ValueError(f"{t.name!r} must be a constant with one value per output channel ({channels})")
    if not np.isin(flip.data, (0, 1)).all():
        raise ValueError(f"flip tensor {flip.name!r} holds values other than 0/1")


def conv_fields(op: Op, graph: Graph, in_c: int, out_c: int) -> dict:
    x, w, y = tensor_in(op, graph), tensor_in(op, graph, 1), tensor_out(op, graph)
    a = op.attrs
    return {"in_h": x.shape[1], "in_w": x.shape[2], "in_c": in_c,
            "out_h": y.shape[1], "out_w": y.shape[2], "out_c": out_c,
            "filter_h": w.shape[1], "filter_w": w.shape[2],
            "stride_h": a["stride"][0], "stride_w": a["stride"][1], "pad_h": a["pad"][0], "pad_w": a["pad"][1]}


def check_int16_fields(fields: dict) -> None:
    for k, v in fields.items():
        if not -(2**15) <= int(v) < 2**15:
            raise ValueError(f"{k}={v} does not fit the kernel's int16 parameter")


# ---------------------------------------------------------------- bconv2d


def prepare(op: Op, graph: Graph) -> None:
    x, w, y = tensor_in(op, graph), tensor_in(op, graph, 1), tensor_out(op, graph)
    c = int(op.attrs.get("in_channels", 0))
    if c < 1:
        raise ValueError("bconv2d needs the attr in_channels (number of input channels, >= 1)")
    check_packed(x, c, "input")
    require_dtype(w, "uint32", "filter")
    if not w.is_const or len(w.shape) != 4 or w.shape[3] != words(c):
        raise ValueError(f"filter {w.name!r} must be a constant [O, KH, KW, {words(c)}] (got {w.shape})")
    check_unused_bits_zero(w, c, "filter")
    o = w.shape[0]
    check_packed(y, o, "output")
    check_threshold(op, graph, 2, o)
    conv_geometry(op, x.shape[1:3], w.shape[1:3], y.shape[1:3])
    if c * w.shape[1] * w.shape[2] >= 2**31:
        raise ValueError("C*KH*KW does not fit an int32 dot product")
    check_int16_fields(conv_fields(op, graph, c, o))


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "pad", prepare)
    a = op.attrs
    c = int(a["in_channels"])
    w_t, y_t = tensor_in(op, graph, 1), tensor_out(op, graph)
    o, kh, kw = w_t.shape[:3]
    x = signs(batch_of(inputs[0], tensor_in(op, graph)), c)
    w = signs(w_t.data, c)
    out_hw = y_t.shape[1:3]
    canvas = signs_padded(x, a["pad"], out_hw, (kh, kw), a["stride"], -1)
    dot = integer_conv(canvas, w, out_hw, a["stride"])
    bits = threshold_bits(dot, tensor_in(op, graph, 2).data, tensor_in(op, graph, 3).data)
    return [pack_bits(bits).astype(np.uint32)]


def macs(op: Op, graph: Graph) -> int:
    """Binary multiply-accumulates (one per input bit per tap per output)."""
    w, y = tensor_in(op, graph, 1), tensor_out(op, graph)
    return int(np.prod(y.shape[1:3])) * w.shape[0] * w.shape[1] * w.shape[2] * int(op.attrs["in_channels"])


def scratch_bytes(op: Op, graph: Graph) -> int:
    """The input window of one output pixel (KH*KW*words uint32) for the fast kernel."""
    w = tensor_in(op, graph, 1)
    return 4 * w.shape[1] * w.shape[2] * w.shape[3]


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "pad", prepare)
    o = tensor_in(op, graph, 1).shape[0]
    params = params_struct(ctx, "mf_bconv2d_params", conv_fields(op, graph, int(op.attrs["in_channels"]), o))
    args = ", ".join(ctx.tensor(n) for n in op.inputs)
    scratch = f"(uint32_t *)(void *){ctx.tensor('__scratch__')}"
    return f"mf_bconv2d(&{params}, {args}, {scratch}, {ctx.tensor(op.outputs[0])});"
