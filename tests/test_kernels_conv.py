"""C kernels of the conv family == their numpy references == TFLM, on the host (random shapes/params).

Every random single-op graph (padding at the borders, dilation, strides, per-channel/per-tensor
scales, extreme zero points, left shifts, FC filter zero points) is also written as a one-op
.tflite with exactly its quantization parameters (tests/tflite_single_op.py) and run in TFLM,
which derives its own multipliers from the scales: the C loops and the numpy reference must both
equal TFLM bit for bit, so a bug shared by prepare() and the kernels cannot stay green.
"""
from __future__ import annotations

import ctypes
import math

import numpy as np
import pytest

from kernel_harness import check_guards, kernel_lib, out_buffer, ptr, run_emitted, struct_type
from mcuforge.graph.ir import Graph, Op, Quant, Tensor
from mcuforge.ops import conv2d, depthwise_conv2d, fully_connected
from mcuforge.ops.conv2d import compute_padding, conv_output_size
from tflite_single_op import interpreter, run_tflm

I16, I32, U8 = ctypes.c_int16, ctypes.c_int32, ctypes.c_uint8
ConvParams = struct_type("mf_conv2d_params", [
    *[(n, I16) for n in ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "filter_h", "filter_w",
                         "stride_h", "stride_w", "dilation_h", "dilation_w", "pad_h", "pad_w")],
    *[(n, I32) for n in ("input_offset", "output_offset", "act_min", "act_max")],
    ("per_channel", U8),
])
DepthwiseParams = struct_type("mf_depthwise_conv2d_params", [
    *[(n, I16) for n in ("in_h", "in_w", "in_c", "out_h", "out_w", "depth_multiplier", "filter_h", "filter_w",
                         "stride_h", "stride_w", "dilation_h", "dilation_w", "pad_h", "pad_w")],
    *[(n, I32) for n in ("input_offset", "output_offset", "act_min", "act_max")],
    ("per_channel", U8),
])
FcParams = struct_type("mf_fully_connected_params", [
    *[(n, I32) for n in ("batches", "accum_depth", "out_depth", "input_offset", "filter_offset", "output_offset",
                         "act_min", "act_max")],
    ("per_channel", U8),
])


def _zp(rng, extreme: bool) -> int:
    return int(rng.choice([-128, 127, -127, 0])) if extreme else int(rng.integers(-128, 128))


def _quant(scale, zp, axis=0) -> Quant:
    return Quant(np.asarray(scale, dtype=np.float32).reshape(-1), np.asarray(zp, dtype=np.int64).reshape(-1), axis)


def _filter_scales(rng, n: int, per_channel: bool) -> np.ndarray:
    base = rng.uniform(0.002, 0.02)
    return (base * rng.uniform(0.25, 4.0, n) if per_channel else np.array([base])).astype(np.float32)


def _out_scale(rng, in_scale, w_scales) -> np.float32:
    # effective multiplier from 1e-4 (right shifts) to ~2 (a left shift), like real layers and beyond
    return np.float32(in_scale * float(np.median(w_scales)) / 10 ** rng.uniform(-4, 0.3))


def conv_case(rng, kind: str, extreme: bool = False, **over) -> tuple[Graph, Op]:
    """A random single-op conv2d/depthwise graph; ``over`` pins any parameter."""
    p = dict(
        h=int(rng.integers(1, 12)), w=int(rng.integers(1, 12)), cin=int(rng.integers(1, 9)),
        cout=int(rng.integers(1, 9)), mult=int(rng.integers(1, 4)),
        kh=int(rng.integers(1, 6)), kw=int(rng.integers(1, 6)),
        stride=(int(rng.integers(1, 4)), int(rng.integers(1, 4))), dilation=(1, 1),
        padding=str(rng.choice(["same", "valid"])), activation=str(rng.choice(["none", "relu", "relu6"])),
        per_channel=bool(rng.random() < 0.7), bias=bool(rng.random() < 0.8),
    )
    if rng.random() < 0.35:  # dilation needs stride 1 in TFLite models
        p["dilation"], p["stride"] = (int(rng.integers(1, 4)), int(rng.integers(1, 4))), (1, 1)
    p.update(over)
    if p["padding"] == "valid":  # keep the valid window inside the image
        p["kh"] = min(p["kh"], (p["h"] - 1) // p["dilation"][0] + 1)
        p["kw"] = min(p["kw"], (p["w"] - 1) // p["dilation"][1] + 1)
    cout = p["cin"] * p["mult"] if kind == "depthwise_conv2d" else p["cout"]
    oh = conv_output_size(p["padding"], p["h"], p["kh"], p["stride"][0], p["dilation"][0])
    ow = conv_output_size(p["padding"], p["w"], p["kw"], p["stride"][1], p["dilation"][1])
    in_scale = np.float32(rng.uniform(0.005, 0.05))
    w_scales = _filter_scales(rng, cout, p["per_channel"])
    if kind == "conv2d":
        wshape, axis = (cout, p["kh"], p["kw"], p["cin"]), 0
    else:
        wshape, axis = (1, p["kh"], p["kw"], cout), 3
    tensors = {
        "x": Tensor("x", (1, p["h"], p["w"], p["cin"]), "int8", _quant([in_scale], [_zp(rng, extreme)])),
        "w": Tensor("w", wshape, "int8", _quant(w_scales, np.zeros(w_scales.size), axis),
                    rng.integers(-127, 128, wshape).astype(np.int8)),
        "y": Tensor("y", (1, oh, ow, cout), "int8", _quant([_out_scale(rng, in_scale, w_scales)], [_zp(rng, extreme)])),
    }
    inputs = ["x", "w"]
    if p["bias"]:
        bias = rng.integers(-(2**14), 2**14, cout).astype(np.int32)
        tensors["b"] = Tensor("b", (cout,), "int32", _quant(in_scale * w_scales, np.zeros(w_scales.size)), bias)
        inputs.append("b")
    attrs = dict(stride=p["stride"], dilation=p["dilation"], padding=p["padding"], activation=p["activation"])
    if kind == "depthwise_conv2d":
        attrs["depth_multiplier"] = p["mult"]
    op = Op(kind, inputs, ["y"], attrs, index=0)
    graph = Graph("t", tensors, [op], ["x"], ["y"])
    {"conv2d": conv2d, "depthwise_conv2d": depthwise_conv2d}[kind].prepare(op, graph)
    return graph, op


def fc_case(rng, extreme: bool = False, **over) -> tuple[Graph, Op]:
    p = dict(batches=int(rng.integers(1, 4)), depth=int(rng.integers(1, 300)), units=int(rng.integers(1, 40)),
             per_channel=bool(rng.random() < 0.6), bias=bool(rng.random() < 0.8),
             activation=str(rng.choice(["none", "relu", "relu6"])), filter_zp=0)
    p.update(over)
    in_scale = np.float32(rng.uniform(0.005, 0.05))
    w_scales = _filter_scales(rng, p["units"], p["per_channel"])
    wshape = (p["units"], p["depth"])
    tensors = {
        "x": Tensor("x", (p["batches"], p["depth"]), "int8", _quant([in_scale], [_zp(rng, extreme)])),
        "w": Tensor("w", wshape, "int8", _quant(w_scales, [p["filter_zp"]] * w_scales.size),
                    rng.integers(-127, 128, wshape).astype(np.int8)),
        "y": Tensor("y", (p["batches"], p["units"]), "int8",
                    _quant([_out_scale(rng, in_scale, w_scales) * np.float32(np.sqrt(p["depth"]) / 4)], [_zp(rng, extreme)])),
    }
    inputs = ["x", "w"]
    if p["bias"]:
        tensors["b"] = Tensor("b", (p["units"],), "int32", _quant(in_scale * w_scales, np.zeros(w_scales.size)),
                              rng.integers(-(2**15), 2**15, p["units"]).astype(np.int32))
        inputs.append("b")
    op = Op("fully_connected", inputs, ["y"], dict(activation=p["activation"], keep_num_dims=False), index=0)
    graph = Graph("t", tensors, [op], ["x"], ["y"])
    fully_connected.prepare(op, graph)
    return graph, op


def _params(op: Op, graph: Graph):
    a = op.attrs
    x, w, y = graph.tensor("x"), graph.tensor("w"), graph.tensor("y")
    common = dict(input_offset=a["input_offset"], output_offset=a["output_offset"], act_min=a["act_min"],
                  act_max=a["act_max"], per_channel=int(a["per_channel"]))
    if op.kind == "fully_connected":
        return FcParams(batches=a["batches"], accum_depth=a["accum_depth"], out_depth=a["out_depth"],
                        filter_offset=a["filter_offset"], **common)
    spatial = dict(in_h=x.shape[1], in_w=x.shape[2], in_c=x.shape[3], out_h=y.shape[1], out_w=y.shape[2],
                   filter_h=w.shape[1], filter_w=w.shape[2], stride_h=a["stride"][0], stride_w=a["stride"][1],
                   dilation_h=a["dilation"][0], dilation_w=a["dilation"][1], pad_h=a["pad"][0], pad_w=a["pad"][1],
                   **common)
    if op.kind == "conv2d":
        return ConvParams(out_c=y.shape[3], **spatial)
    return DepthwiseParams(depth_multiplier=a["depth_multiplier"], **spatial)


def run_c(op: Op, graph: Graph, x: np.ndarray, variant: str = "") -> np.ndarray:
    """Call the kernel (``variant="_ref"``: its plain reference loop) on one input."""
    lib = kernel_lib(op.kind)
    fn = getattr(lib, f"mf_{op.kind}_s8{variant}")
    fn.restype = None
    y = out_buffer(graph.tensor("y").shape, np.int8)
    w = np.ascontiguousarray(graph.tensor("w").data)
    bias = np.ascontiguousarray(graph.tensor("b").data) if "b" in op.inputs else None
    mult = np.ascontiguousarray(op.attrs["multiplier"], dtype=np.int32)
    shift = np.ascontiguousarray(op.attrs["shift"], dtype=np.int32)
    params = _params(op, graph)
    fn(ctypes.byref(params), ptr(np.ascontiguousarray(x)), ptr(w), ptr(bias) if bias is not None else None,
       ptr(mult), ptr(shift), ptr(y))
    check_guards(y)
    return np.array(y)


def _random_input(rng, graph: Graph) -> np.ndarray:
    return rng.integers(-128, 128, graph.tensor("x").shape).astype(np.int8)


def _mismatch(what: str, op, graph, got, want) -> None:
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)
        attrs = {k: v for k, v in op.attrs.items() if k not in ("multiplier", "shift")}
        pytest.fail(f"{what} attrs={attrs} x{graph.tensor('x').shape} w{graph.tensor('w').shape}: "
                    f"{len(bad)} mismatches, first at {bad[0].tolist()}: got {got[tuple(bad[0])]} "
                    f"want {want[tuple(bad[0])]}")


def _check(op, graph, rng, samples=2):
    """The fast kernel, its plain reference loop and the numpy reference all equal TFLM."""
    mod = {"conv2d": conv2d, "depthwise_conv2d": depthwise_conv2d, "fully_connected": fully_connected}[op.kind]
    tflm = interpreter(graph)
    for _ in range(samples):
        x = _random_input(rng, graph)
        want = run_tflm(tflm, [x])
        ours = mod.reference(op, graph, [x])[0]
        assert ours.shape == want.shape
        _mismatch(f"numpy {op.kind} vs TFLM", op, graph, ours, want)
        for variant in ("", "_ref"):
            got = run_c(op, graph, x, variant)
            _mismatch(f"mf_{op.kind}_s8{variant} vs TFLM", op, graph, got.reshape(want.shape), want)


# ---------------------------------------------------------------- random cases


@pytest.mark.parametrize("seed", range(60))
def test_conv2d_c_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    graph, op = conv_case(rng, "conv2d", extreme=seed % 4 == 0)
    _check(op, graph, rng)


@pytest.mark.parametrize("seed", range(60))
def test_depthwise_c_matches_numpy(seed):
    rng = np.random.default_rng(1000 + seed)
    graph, op = conv_case(rng, "depthwise_conv2d", extreme=seed % 4 == 0)
    _check(op, graph, rng)


@pytest.mark.parametrize("seed", range(40))
def test_fully_connected_c_matches_numpy(seed):
    rng = np.random.default_rng(2000 + seed)
    # per-tensor weights with a non-zero zero point take the kernel's general (reference) loop
    graph, op = fc_case(rng, extreme=seed % 4 == 0,
                        **({"per_channel": False, "filter_zp": int(rng.integers(-20, 21))} if seed % 5 == 0 else {}))
    _check(op, graph, rng)


# ---------------------------------------------------------------- edge cases


@pytest.mark.parametrize("h,w,cin,cout", [(6, 5, 16, 12), (5, 3, 7, 7), (1, 1, 3, 1), (3, 3, 1, 5)])
def test_conv2d_pointwise_fast_path_matches_numpy(h, w, cin, cout):
    """1x1 path: pairs of channels and pixels, with odd counts of either left over."""
    rng = np.random.default_rng(7 + h * w + cout)
    for per_channel, bias in ((True, True), (False, False)):
        graph, op = conv_case(rng, "conv2d", h=h, w=w, cin=cin, cout=cout, kh=1, kw=1, stride=(1, 1),
                              dilation=(1, 1), padding="same", per_channel=per_channel, bias=bias, extreme=True)
        _check(op, graph, rng)


@pytest.mark.parametrize("channels", [1, 3, 4, 8, 11])
def test_depthwise_multiplier_one_channel_blocks(channels):
    """Multiplier 1 runs four channels at a time: full blocks and every remainder."""
    rng = np.random.default_rng(20 + channels)
    for dilation, stride in (((1, 1), (2, 1)), ((2, 2), (1, 1))):
        graph, op = conv_case(rng, "depthwise_conv2d", h=7, w=6, cin=channels, mult=1, kh=3, kw=3,
                              stride=stride, dilation=dilation, padding="same")
        _check(op, graph, rng)


@pytest.mark.parametrize("kind", ["conv2d", "depthwise_conv2d"])
def test_even_kernel_same_padding_puts_extra_pixel_at_the_end(kind):
    """TFLite pads total//2 first; the odd extra pixel is bottom/right (TFLM ignores its offset)."""
    rng = np.random.default_rng(3)
    graph, op = conv_case(rng, kind, h=6, w=7, cin=3, cout=4, mult=1, kh=4, kw=2, stride=(1, 1),
                          dilation=(1, 1), padding="same")
    assert op.attrs["pad"] == (1, 0)
    _check(op, graph, rng)


@pytest.mark.parametrize("kind", ["conv2d", "depthwise_conv2d"])
def test_filter_larger_than_input_with_same_padding(kind):
    rng = np.random.default_rng(4)
    graph, op = conv_case(rng, kind, h=2, w=3, cin=2, cout=3, mult=2, kh=5, kw=5, stride=(2, 2),
                          dilation=(1, 1), padding="same")
    _check(op, graph, rng)


@pytest.mark.parametrize("kind", ["conv2d", "depthwise_conv2d"])
def test_dilation_with_padding_at_borders(kind):
    rng = np.random.default_rng(5)
    graph, op = conv_case(rng, kind, h=7, w=9, cin=3, cout=2, mult=2, kh=3, kw=3, stride=(1, 1),
                          dilation=(2, 3), padding="same")
    assert op.attrs["pad"] == (2, 3)
    _check(op, graph, rng)


def test_saturation_both_ends():
    """Huge multipliers drive outputs to both clamps; relu6 clamps at its quantized 6.0."""
    rng = np.random.default_rng(6)
    graph, op = conv_case(rng, "conv2d", h=5, w=5, cin=4, cout=4, kh=3, kw=3, stride=(1, 1), dilation=(1, 1),
                          padding="same", activation="relu6")
    graph.tensor("y").quant = _quant([1e-5], [-128])
    conv2d.prepare(op, graph)
    x = _random_input(rng, graph)
    want = conv2d.reference(op, graph, [x])[0]
    assert {op.attrs["act_min"], op.attrs["act_max"]} <= set(np.unique(want).tolist())
    assert np.array_equal(run_c(op, graph, x), want)


def test_per_channel_scales_differ_per_channel():
    rng = np.random.default_rng(8)
    graph, op = conv_case(rng, "conv2d", cout=6, per_channel=True)
    assert len(set(op.attrs["multiplier"].tolist())) > 1
    assert op.attrs["per_channel"] and op.attrs["multiplier"].size == 6


def _tflm_quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLM's QuantizeMultiplier, written out here: frexp, round half away from zero to Q31."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    fixed = int(math.copysign(math.floor(abs(q) * 2**31 + 0.5), q))
    if fixed == 2**31:
        fixed, shift = fixed // 2, shift + 1
    return (0, 0) if shift < -31 else (fixed, shift)


def _tflm_requantize(acc: int, multiplier: int, shift: int) -> int:
    """TFLM's MultiplyByQuantizedMultiplier (double rounding, the default build), in Python ints:
    SaturatingRoundingDoublingHighMul then RoundingDivideByPOT."""
    x = acc * (1 << max(shift, 0))
    assert -2**31 <= x < 2**31, "the left shift overflows int32"
    if x == multiplier == -2**31:
        high = 2**31 - 1
    else:
        ab = x * multiplier
        n = ab + (1 << 30 if ab >= 0 else 1 - (1 << 30))
        high = abs(n) // 2**31 * (1 if n >= 0 else -1)  # C division truncates towards zero
    exponent = max(-shift, 0)
    mask = (1 << exponent) - 1
    remainder, threshold = high & mask, (mask >> 1) + (1 if high < 0 else 0)
    return (high >> exponent) + (1 if remainder > threshold else 0)


@pytest.mark.parametrize("left_shift", [False, True])
def test_reference_matches_direct_loop(left_shift):
    """The vectorized numpy conv equals a plain transliteration of TFLM's loops (small case). The
    loop takes everything from the tensors as a .tflite states them (scales, zero points, padding
    rule, activation) and requantizes with TFLM's arithmetic written out above: nothing from
    prepare() or mcuforge.graph.quant."""
    rng = np.random.default_rng(9)
    graph, op = conv_case(rng, "conv2d", h=5, w=6, cin=3, cout=2, kh=3, kw=2, stride=(2, 1),
                          dilation=(1, 2), padding="same", extreme=True)
    if left_shift:  # effective scale ~1.8: TFLM shifts left before the high multiply
        w_scale = float(np.max(graph.tensor("w").quant.scale))
        graph.tensor("y").quant = _quant([graph.tensor("x").quant.s * w_scale / 1.8], [3])
        conv2d.prepare(op, graph)
        assert op.attrs["shift"].max() == 1
    a = op.attrs
    xq, wq, yq = (graph.tensor(n).quant for n in ("x", "w", "y"))
    in_zp, out_zp, out_scale = int(xq.zero_point[0]), int(yq.zero_point[0]), float(yq.scale[0])
    x = _random_input(rng, graph)[0].astype(np.int64)
    w = graph.tensor("w").data.astype(np.int64)
    b = graph.tensor("b").data if "b" in op.inputs else np.zeros(2, np.int32)
    _, oh, ow, oc = graph.tensor("y").shape
    sh, sw, dh, dw = *a["stride"], *a["dilation"]
    # TFLite SAME padding: total = max((out - 1) * stride + (k - 1) * dilation + 1 - in, 0), half before
    pad_h = max((oh - 1) * sh + (w.shape[1] - 1) * dh + 1 - x.shape[0], 0) // 2
    pad_w = max((ow - 1) * sw + (w.shape[2] - 1) * dw + 1 - x.shape[1], 0) // 2
    lo = max(-128, out_zp) if a["activation"] in ("relu", "relu6") else -128
    hi = min(127, out_zp + int(round(6.0 / out_scale))) if a["activation"] == "relu6" else 127
    want = np.zeros((1, oh, ow, oc), np.int8)
    for c in range(oc):
        filter_scale = float(wq.scale[c if wq.scale.size > 1 else 0])
        mult, shift = _tflm_quantize_multiplier(float(xq.scale[0]) * filter_scale / out_scale)
        for oy in range(oh):
            for ox in range(ow):
                acc = 0
                for ky in range(w.shape[1]):
                    for kx in range(w.shape[2]):
                        iy, ix = oy * sh - pad_h + ky * dh, ox * sw - pad_w + kx * dw
                        if 0 <= iy < x.shape[0] and 0 <= ix < x.shape[1]:
                            acc += int((w[c, ky, kx] * (x[iy, ix] - in_zp)).sum())
                v = _tflm_requantize(acc + int(b[c]), mult, shift) + out_zp
                want[0, oy, ox, c] = min(max(v, lo), hi)
    x8 = x[None].astype(np.int8)
    assert np.array_equal(conv2d.reference(op, graph, [x8])[0], want)
    assert np.array_equal(run_tflm(interpreter(graph), [x8]), want)


def test_padding_helpers_follow_tflite():
    assert conv_output_size("same", 10, 3, 2) == 5 and conv_output_size("valid", 10, 3, 2) == 4
    assert conv_output_size("valid", 9, 3, 1, dilation=3) == 3
    assert compute_padding(1, 1, 10, 3, 10) == 1
    assert compute_padding(2, 1, 10, 4, 5) == 1  # total 2
    assert compute_padding(2, 1, 9, 3, 5) == 1  # total 2
    assert compute_padding(1, 1, 10, 1, 10) == 0


# ---------------------------------------------------------------- prepare() rejects what the kernels cannot run


def test_prepare_rejects_float_and_grouped_conv():
    rng = np.random.default_rng(11)
    graph, op = conv_case(rng, "conv2d", cin=4, cout=2)
    graph.tensor("x").dtype = "float32"
    with pytest.raises(ValueError, match="float32"):
        conv2d.prepare(op, graph)
    graph, op = conv_case(rng, "conv2d", cin=4, cout=2)
    w = graph.tensor("w")
    w.data = w.data[..., :2].copy()
    w.shape = w.data.shape
    with pytest.raises(ValueError, match="grouped"):
        conv2d.prepare(op, graph)


def test_prepare_rejects_wrong_output_shape_and_asymmetric_filter():
    rng = np.random.default_rng(12)
    graph, op = conv_case(rng, "conv2d", h=8, w=8, kh=3, kw=3, padding="same", stride=(1, 1), dilation=(1, 1))
    graph.tensor("y").shape = (1, 7, 8, graph.tensor("y").shape[3])
    with pytest.raises(ValueError, match="padding gives"):
        conv2d.prepare(op, graph)
    graph, op = conv_case(rng, "depthwise_conv2d")
    graph.tensor("w").quant.zero_point[:] = 3
    with pytest.raises(ValueError, match="zero points"):
        depthwise_conv2d.prepare(op, graph)


def test_fc_keep_num_dims_reads_rows():
    rng = np.random.default_rng(13)
    graph, op = fc_case(rng, batches=1, depth=8, units=3)
    x = graph.tensor("x")
    x.shape = (1, 2, 4, 8)
    y = graph.tensor("y")
    y.shape = (1, 2, 4, 3)
    op.attrs["keep_num_dims"] = True
    fully_connected.prepare(op, graph)
    assert op.attrs["batches"] == 8
    xs = rng.integers(-128, 128, x.shape).astype(np.int8)
    want = fully_connected.reference(op, graph, [xs])[0]
    assert want.shape == (1, 2, 4, 3)
    assert np.array_equal(run_c(op, graph, xs).reshape(want.shape), want)


def test_macs():
    rng = np.random.default_rng(14)
    graph, op = conv_case(rng, "conv2d", h=8, w=8, cin=3, cout=4, kh=3, kw=3, stride=(1, 1), dilation=(1, 1),
                          padding="same")
    assert conv2d.macs(op, graph) == 8 * 8 * 4 * 3 * 3 * 3
    graph, op = conv_case(rng, "depthwise_conv2d", h=8, w=8, cin=3, mult=2, kh=3, kw=3, stride=(1, 1),
                          dilation=(1, 1), padding="same")
    assert depthwise_conv2d.macs(op, graph) == 8 * 8 * 6 * 9
    graph, op = fc_case(rng, batches=2, depth=10, units=7)
    assert fully_connected.macs(op, graph) == 2 * 10 * 7


# ---------------------------------------------------------------- emit(): the generated C call runs


@pytest.mark.parametrize("kind", ["conv2d", "depthwise_conv2d", "fully_connected"])
@pytest.mark.parametrize("seed", range(3))
def test_emitted_call_compiles_and_matches_numpy(kind, seed):
    rng = np.random.default_rng(3000 + seed)
    if kind == "fully_connected":
        graph, op = fc_case(rng, bias=seed != 1)
    else:
        graph, op = conv_case(rng, kind, bias=seed != 1)
    mod = {"conv2d": conv2d, "depthwise_conv2d": depthwise_conv2d, "fully_connected": fully_connected}[kind]
    x = _random_input(rng, graph)
    got = run_emitted(op, graph, [x])[0]
    assert np.array_equal(got, mod.reference(op, graph, [x])[0])


def test_fc_per_tensor_multiplier_uses_float32_scale_product():
    """TFLite's GetQuantizedConvolutionMultipler multiplies input and filter scales in float32
    before widening; conv (and per-channel FC) multiply in double. The results differ here."""
    from mcuforge.graph.quant import quantize_multiplier
    from mcuforge.ops.conv2d import conv_multipliers

    s_in, s_w, s_out = np.float32(0.064059205), np.float32(0.005760841), np.float32(0.030077027)
    per_tensor, _ = conv_multipliers(s_in, [s_w], s_out, per_tensor_float_product=True)
    per_channel, _ = conv_multipliers(s_in, [s_w], s_out)
    assert per_tensor[0] == quantize_multiplier(float(np.float32(s_in * s_w)) / float(s_out))[0]
    assert per_channel[0] == quantize_multiplier(float(s_in) * float(s_w) / float(s_out))[0]
    assert per_tensor[0] != per_channel[0]
    rng = np.random.default_rng(15)
    graph, op = fc_case(rng, per_channel=False)
    graph.tensor("x").quant.scale[:] = s_in
    graph.tensor("w").quant.scale[:] = s_w
    graph.tensor("y").quant.scale[:] = s_out
    fully_connected.prepare(op, graph)
    assert op.attrs["multiplier"][0] == per_tensor[0]


def test_all_kernels_compile_and_link_together():
    """One library with every kernel: no duplicate symbols, all -Wall -Wextra -Werror clean."""
    from kernel_harness import all_kernels_lib

    lib = all_kernels_lib()
    for name in ("mf_conv2d_s8", "mf_depthwise_conv2d_s8", "mf_fully_connected_s8"):
        assert hasattr(lib, name)
