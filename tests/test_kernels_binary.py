"""Binary-network kernels (conv2d_threshold, bconv2d, bmax_pool2d, bconv2d_int8w, mean_f32): C == numpy.

Each random single-op graph goes through the op's real ``emit()`` and is compiled natively with
its kernel (gcc -Werror), so params struct, argument order and kernel are checked together
against ``reference()``. Shapes cover channel counts that are not multiples of 32, "same"
padding at the borders, strides, thresholds at the accumulator's extremes (constant channels)
and both threshold directions. Packed inputs carry garbage in the unused high bits of their
last word, which every kernel must ignore. The numpy references themselves are checked against
plain float arithmetic on +-1 values (an independent formulation).

The case builders are shared with tests/test_kernels_binary_target.py (the same ops on QEMU).
"""
from __future__ import annotations

import ctypes
import subprocess

import numpy as np
import pytest

from kernel_harness import GUARD, KERNELS, kernel_lib, run_emitted, struct_type
from mcuforge.graph.ir import Graph, Op, Quant, Tensor
from mcuforge.ops import bconv2d, bconv2d_int8w, bmax_pool2d, conv2d_threshold, mean_f32
from mcuforge.ops.bconv2d import pack_bits, unpack_bits, words
from mcuforge.ops.conv2d import conv_output_size

CHANNELS = [1, 3, 31, 32, 33, 40, 64, 65, 96, 257]


# ---------------------------------------------------------------- graph builders


def t(name, shape, dtype, data=None, quant=None) -> Tensor:
    return Tensor(name=name, shape=tuple(int(d) for d in shape), dtype=dtype, quant=quant, data=data)


def graph_of(kind: str, ins: list[Tensor], out: Tensor, **attrs) -> Graph:
    tensors = {x.name: x for x in ins + [out]}
    op = Op(kind=kind, inputs=[x.name for x in ins], outputs=[out.name], attrs=dict(attrs), index=0, name=kind)
    return Graph(kind, tensors, [op], [x.name for x in ins if not x.is_const], [out.name])


def geometry(rng, max_hw=9, max_k=4):
    h, w = (int(v) for v in rng.integers(1, max_hw + 1, 2))
    kh, kw = (int(v) for v in rng.integers(1, max_k + 1, 2))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    padding = str(rng.choice(["same", "valid"]))
    if padding == "valid":
        kh, kw = min(kh, h), min(kw, w)
    oh, ow = conv_output_size(padding, h, kh, stride[0]), conv_output_size(padding, w, kw, stride[1])
    return h, w, kh, kw, stride, padding, oh, ow


def thresholds(rng, n: int, spread: float, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds near the middle of the accumulator's spread, some at the extremes (constant bits)."""
    thr = np.round(rng.normal(0.0, spread, n)).astype(np.int64)
    k = rng.random(n)
    thr[k < 0.08] = lo       # at the accumulator's extremes the bit is constant:
    thr[k > 0.92] = hi + 1   # +1/-1 with flip 0, -1 (almost always)/+1 with flip 1
    flip = (rng.random(n) < 0.5).astype(np.uint8)
    return np.clip(thr, -(2**31), 2**31 - 1).astype(np.int32), flip


def conv2d_threshold_case(rng, **over) -> Graph:
    h, w, kh, kw, stride, padding, oh, ow = geometry(rng)
    cin = int(over.get("cin", rng.integers(1, 5)))
    cout = int(over.get("cout", rng.choice(CHANNELS)))
    zp = int(rng.choice([-128, 127, 0, int(rng.integers(-128, 128))]))
    xq = Quant(np.array([rng.uniform(0.01, 0.1)], dtype=np.float32), np.array([zp], dtype=np.int64))
    wdata = rng.integers(-127, 128, (cout, kh, kw, cin)).astype(np.int8)
    wq = Quant(rng.uniform(0.001, 0.01, cout).astype(np.float32), np.zeros(cout, dtype=np.int64))
    bias = None
    if rng.random() < 0.6:
        bias = t("b", (cout,), "int32", rng.integers(-20000, 20000, cout).astype(np.int32))
    lo, hi = conv2d_threshold.accumulator_range(wdata, -zp, None if bias is None else bias.data)
    spread = 73.0 * 150.0 * np.sqrt(kh * kw * cin)  # std of w * (x - zp) sums
    thr, flip = thresholds(rng, cout, spread, int(lo.min()), int(hi.max()))
    ins = [t("x", (1, h, w, cin), "int8", quant=xq), t("w", wdata.shape, "int8", wdata, wq),
           t("thr", (cout,), "int32", thr), t("flip", (cout,), "uint8", flip)]
    return graph_of("conv2d_threshold", ins + ([bias] if bias is not None else []),
                    t("y", (1, oh, ow, words(cout)), "uint32"), stride=stride, padding=padding)


def bconv2d_case(rng, **over) -> Graph:
    h, w, kh, kw, stride, padding, oh, ow = geometry(rng)
    cin = int(over.get("cin", rng.choice(CHANNELS)))
    cout = int(over.get("cout", rng.choice(CHANNELS)))
    wbits = rng.integers(0, 2, (cout, kh, kw, cin))
    n = cin * kh * kw
    thr, flip = thresholds(rng, cout, np.sqrt(n), -n, n)
    return graph_of("bconv2d",
                    [t("x", (1, h, w, words(cin)), "uint32"), t("w", (cout, kh, kw, words(cin)), "uint32",
                                                                pack_bits(wbits)),
                     t("thr", (cout,), "int32", thr), t("flip", (cout,), "uint8", flip)],
                    t("y", (1, oh, ow, words(cout)), "uint32"), in_channels=cin, stride=stride, padding=padding)


def bmax_pool2d_case(rng, **over) -> Graph:
    h, w, fh, fw, stride, padding, oh, ow = geometry(rng)
    c = int(over.get("channels", rng.choice(CHANNELS)))
    return graph_of("bmax_pool2d", [t("x", (1, h, w, words(c)), "uint32")], t("y", (1, oh, ow, words(c)), "uint32"),
                    channels=c, filter=(fh, fw), stride=stride, padding=padding)


def bconv2d_int8w_case(rng, **over) -> Graph:
    h, w, kh, kw, stride, padding, oh, ow = geometry(rng)
    cin = int(over.get("cin", rng.choice(CHANNELS)))
    cout = int(over.get("cout", rng.integers(1, 20)))
    wdata = rng.integers(-127, 128, (cout, kh, kw, cin)).astype(np.int8)
    scale = (rng.uniform(0.5, 2.0, cout) * 10.0 ** rng.uniform(-4, -1, cout) * rng.choice([-1, 1], cout))
    spread = 74.0 * np.sqrt(kh * kw * cin)
    offset = rng.normal(0.0, 1.0, cout) * np.abs(scale) * spread
    return graph_of("bconv2d_int8w",
                    [t("x", (1, h, w, words(cin)), "uint32"), t("w", wdata.shape, "int8", wdata),
                     t("a", (cout,), "float32", scale.astype(np.float32)),
                     t("b", (cout,), "float32", offset.astype(np.float32))],
                    t("y", (1, oh, ow, cout), "float32"), stride=stride, padding=padding,
                    pad_value=int(over.get("pad_value", rng.choice([-1, 0]))),
                    activation=str(over.get("activation", rng.choice(["relu", "relu", "none"]))))


def mean_f32_case(rng, **over) -> Graph:
    h, w, c = (int(v) for v in rng.integers(1, 12, 3))
    keep = bool(rng.random() < 0.3)
    return graph_of("mean_f32", [t("x", (1, h, w, c), "float32")], t("y", (1, 1, 1, c) if keep else (1, c), "float32"))


CASES = {
    "conv2d_threshold": conv2d_threshold_case,
    "bconv2d": bconv2d_case,
    "bmax_pool2d": bmax_pool2d_case,
    "bconv2d_int8w": bconv2d_int8w_case,
    "mean_f32": mean_f32_case,
}


def random_input(rng, graph: Graph, name: str) -> np.ndarray:
    x = graph.tensors[name]
    if x.dtype == "uint32":  # random bits, garbage in the unused bits of the last word
        return rng.integers(0, 2**32, x.shape, dtype=np.uint64).astype(np.uint32)
    if x.dtype == "float32":  # values with very different magnitudes: the summation order shows
        return (rng.normal(0.0, 1.0, x.shape) * 10.0 ** rng.integers(-3, 4, x.shape)).astype(np.float32)
    return rng.integers(-128, 128, x.shape).astype(np.int8)


def reference_of(graph: Graph, xs: list[np.ndarray]) -> np.ndarray:
    from mcuforge import ops

    op = graph.ops[0]
    args = [graph.tensors[n].data if graph.tensors[n].is_const else xs[graph.inputs.index(n)] for n in op.inputs]
    return ops.get(op.kind).reference(op, graph, args)[0]


# ---------------------------------------------------------------- C (emitted) == numpy


@pytest.mark.parametrize("kind", sorted(CASES))
def test_emitted_kernel_equals_reference(kind):
    rng = np.random.default_rng(sum(map(ord, kind)))
    for case in range(8):
        g = CASES[kind](rng)
        xs = [random_input(rng, g, n) for n in g.inputs]
        want = reference_of(g, xs)
        got = run_emitted(g.ops[0], g, xs)[0]
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want, err_msg=f"{kind} case {case}: attrs {g.ops[0].attrs}")
        if want.dtype == np.uint32:  # producers keep the unused bits 0
            c = g.ops[0].attrs["channels"] if kind == "bmax_pool2d" else g.tensors["w"].shape[0]
            assert (pack_bits(unpack_bits(got, c)) == got).all(), "unused bits set in the output"


def test_outputs_are_not_degenerate():
    """The random cases make mixed bits and nonzero floats (else equality would prove little)."""
    rng = np.random.default_rng(7)
    for kind in ("conv2d_threshold", "bconv2d", "bconv2d_int8w"):
        ones = total = nonzero = 0
        for _ in range(6):
            over = dict(cin=33, activation="relu") if kind == "bconv2d_int8w" else dict(cin=33, cout=40)
            g = CASES[kind](rng, **over)
            y = reference_of(g, [random_input(rng, g, n) for n in g.inputs])
            if y.dtype == np.uint32:
                bits = unpack_bits(y, 40)
                ones, total = ones + int(bits.sum()), total + bits.size
            else:
                nonzero, total = nonzero + int((y != 0).sum()), total + y.size
        frac = (ones or nonzero) / total
        assert 0.2 < frac < 0.9, f"{kind}: fraction of ones/nonzeros {frac:.2f}"


# ---------------------------------------------------------------- numpy references vs plain float maths


def _float_conv(xs: np.ndarray, w: np.ndarray, pad, stride, out_hw, pad_value: float) -> np.ndarray:
    """Direct float64 conv of [H,W,C] with [O,KH,KW,C], one output at a time."""
    o, kh, kw, _ = w.shape
    h, wd = xs.shape[:2]
    out = np.zeros(tuple(out_hw) + (o,))
    for oy in range(out_hw[0]):
        for ox in range(out_hw[1]):
            win = np.full((kh, kw, xs.shape[2]), pad_value, dtype=np.float64)
            for ky in range(kh):
                for kx in range(kw):
                    iy, ix = oy * stride[0] - pad[0] + ky, ox * stride[1] - pad[1] + kx
                    if 0 <= iy < h and 0 <= ix < wd:
                        win[ky, kx] = xs[iy, ix]
            out[oy, ox] = np.tensordot(w, win, axes=([1, 2, 3], [0, 1, 2]))
    return out


def test_bconv2d_reference_is_the_pm1_convolution():
    rng = np.random.default_rng(11)
    for _ in range(6):
        g = bconv2d_case(rng)
        op = g.ops[0]
        x = random_input(rng, g, "x")
        c = op.attrs["in_channels"]
        y = reference_of(g, [x])
        xs = unpack_bits(x[0], c) * 2.0 - 1
        ws = unpack_bits(g.tensors["w"].data, c) * 2.0 - 1
        dot = _float_conv(xs, ws, op.attrs["pad"], op.attrs["stride"], y.shape[1:3], -1.0)
        thr, flip = g.tensors["thr"].data, g.tensors["flip"].data
        want = np.where(flip == 1, dot <= thr, dot >= thr)
        np.testing.assert_array_equal(unpack_bits(y[0], ws.shape[0]), want)


def test_conv2d_threshold_reference_is_the_offset_convolution():
    rng = np.random.default_rng(12)
    for _ in range(6):
        g = conv2d_threshold_case(rng)
        op = g.ops[0]
        x = random_input(rng, g, "x")
        y = reference_of(g, [x])
        zp = int(g.tensors["x"].quant.zp)
        acc = _float_conv(x[0].astype(np.float64) - zp, g.tensors["w"].data.astype(np.float64), op.attrs["pad"],
                          op.attrs["stride"], y.shape[1:3], 0.0)
        if len(op.inputs) == 5:
            acc += g.tensors["b"].data
        thr, flip = g.tensors["thr"].data, g.tensors["flip"].data
        np.testing.assert_array_equal(unpack_bits(y[0], thr.size), np.where(flip == 1, acc <= thr, acc >= thr))


def test_bconv2d_int8w_reference_is_the_pm1_convolution():
    rng = np.random.default_rng(13)
    for pad_value in (-1, 0):
        g = bconv2d_int8w_case(rng, pad_value=pad_value, activation="none")
        op = g.ops[0]
        x = random_input(rng, g, "x")
        y = reference_of(g, [x])
        w = g.tensors["w"].data.astype(np.float64)
        acc = _float_conv(unpack_bits(x[0], w.shape[3]) * 2.0 - 1, w, op.attrs["pad"], op.attrs["stride"],
                          y.shape[1:3], float(pad_value))
        want = g.tensors["a"].data.astype(np.float64) * acc + g.tensors["b"].data
        np.testing.assert_allclose(y[0], want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_bmax_pool2d_reference_is_max_of_pm1():
    rng = np.random.default_rng(14)
    for _ in range(6):
        g = bmax_pool2d_case(rng)
        op = g.ops[0]
        c = op.attrs["channels"]
        x = random_input(rng, g, "x")
        y = unpack_bits(reference_of(g, [x])[0], c)
        xs = unpack_bits(x[0], c).astype(np.int64) * 2 - 1
        (fh, fw), (sh, sw), (ph, pw) = op.attrs["filter"], op.attrs["stride"], op.attrs["pad"]
        for oy in range(y.shape[0]):
            for ox in range(y.shape[1]):
                win = xs[max(oy * sh - ph, 0): oy * sh - ph + fh, max(ox * sw - pw, 0): ox * sw - pw + fw]
                np.testing.assert_array_equal(y[oy, ox], win.max(axis=(0, 1)) > 0)


def test_mean_f32_sums_in_row_major_order():
    """Sequential float32 order, not numpy's pairwise sum: a case where the two differ."""
    x = np.zeros((1, 1, 4, 1), dtype=np.float32)
    x[0, 0, :, 0] = [1e8, 1.0, -1e8, 1.0]  # sequential: ((1e8+1)-1e8)+1 = 1; exact sum 2
    g = graph_of("mean_f32", [t("x", x.shape, "float32")], t("y", (1, 1), "float32"))
    y = reference_of(g, [x])
    assert y[0, 0] == np.float32(0.25)
    np.testing.assert_array_equal(run_emitted(g.ops[0], g, [x])[0], y)


def test_bconv2d_int8w_rounds_product_then_sum():
    """scale*acc and +offset round separately: a case where an FMA would give another float."""
    rng = np.random.default_rng(5)
    g = bconv2d_int8w_case(rng, cin=40, cout=8, activation="none")
    x = random_input(rng, g, "x")
    acc = bconv2d_int8w.accumulators(g.ops[0], g, x).astype(np.float64)
    a, b = g.tensors["a"].data, g.tensors["b"].data
    fused = (a.astype(np.float64) * acc + b).astype(np.float32)  # one rounding, as an FMA
    want = reference_of(g, [x])[0]
    assert (fused != want).any(), "this case does not tell one rounding from two"
    np.testing.assert_array_equal(run_emitted(g.ops[0], g, [x])[0], want[None])


# ---------------------------------------------------------------- fast and reference C kernels via ctypes

I16 = ctypes.c_int16
_CONV_FIELDS = [(n, I16) for n in ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "filter_h", "filter_w",
                                    "stride_h", "stride_w", "pad_h", "pad_w")]
PARAMS = {
    "bconv2d": struct_type("mf_bconv2d_params", _CONV_FIELDS),
    "conv2d_threshold": struct_type("mf_conv2d_threshold_params", _CONV_FIELDS + [("input_offset", ctypes.c_int32)]),
    "bconv2d_int8w": struct_type("mf_bconv2d_int8w_params", _CONV_FIELDS + [("pad_value", ctypes.c_int8),
                                                                            ("relu", ctypes.c_uint8)]),
}
_C = {np.dtype(np.uint32): ctypes.c_uint32, np.dtype(np.int32): ctypes.c_int32, np.dtype(np.uint8): ctypes.c_uint8,
      np.dtype(np.int8): ctypes.c_int8, np.dtype(np.int16): ctypes.c_int16, np.dtype(np.float32): ctypes.c_float}


def _p(a: np.ndarray):
    return np.ascontiguousarray(a).ctypes.data_as(ctypes.POINTER(_C[a.dtype]))


def _kernel_args(kind, g, x):
    """(params, [input pointers...], scratch dtype) for a direct call; mirrors each op's emit()."""
    from mcuforge import ops

    op = g.ops[0]
    mod = ops.get(kind)
    mod.prepare(op, g)
    w = g.tensors["w"]
    fields = bconv2d.conv_fields(op, g, op.attrs.get("in_channels", w.shape[3]), w.shape[0])
    if kind == "conv2d_threshold":
        fields["input_offset"] = op.attrs["input_offset"]
        names = ["w", "b", "thr", "flip"]  # the C argument order; the bias may be absent (NULL)
    elif kind == "bconv2d":
        names = ["w", "thr", "flip"]
    else:
        fields.update(pad_value=op.attrs["pad_value"], relu=int(op.attrs["activation"] == "relu"))
        names = ["w", "a", "b"]
    ptrs = [_p(x)] + [_p(g.tensors[n].data) if n in g.tensors else None for n in names]
    scratch = np.zeros(mod.scratch_bytes(op, g), dtype=np.uint8)
    return PARAMS[kind](**{k: int(v) for k, v in fields.items()}), ptrs, scratch


@pytest.mark.parametrize("kind", ["bconv2d", "conv2d_threshold", "bconv2d_int8w"])
@pytest.mark.parametrize("variant", ["fast", "ref"])
def test_fast_and_reference_kernels(kind, variant):
    """Both C variants of the three conv kernels (emit() uses the fast one) == numpy, with guards."""
    lib = kernel_lib(kind)
    rng = np.random.default_rng(sum(map(ord, kind + variant)))
    for case in range(30):
        g = CASES[kind](rng)
        x = random_input(rng, g, "x")
        want = reference_of(g, [x])
        params, ptrs, scratch = _kernel_args(kind, g, x)
        words_out = want.size * want.itemsize // 4
        raw = np.full(words_out + 2 * GUARD // 4, 0x5A5A5A5A, dtype=np.uint32)
        out = raw[GUARD // 4: GUARD // 4 + words_out]
        args = [ctypes.byref(params)] + ptrs
        if variant == "fast":
            args.append(scratch.ctypes.data_as(ctypes.c_void_p))
        getattr(lib, f"mf_{kind}" + ("_ref" if variant == "ref" else ""))(*args, _p(out))
        np.testing.assert_array_equal(out.view(want.dtype).reshape(want.shape), want, err_msg=f"case {case}")
        assert (raw[: GUARD // 4] == 0x5A5A5A5A).all() and (raw[-GUARD // 4:] == 0x5A5A5A5A).all(), \
            "kernel wrote outside its output"


# ---------------------------------------------------------------- bad input gets a clear error


def test_prepare_rejects_bad_graphs():
    rng = np.random.default_rng(1)
    g = bconv2d_case(rng, cin=40, cout=8)
    g.ops[0].attrs["in_channels"] = 70  # 3 words, the tensors have 2
    with pytest.raises(ValueError, match="words per pixel"):
        bconv2d.prepare(g.ops[0], g)

    g = bconv2d_case(rng, cin=40, cout=8)
    g.tensors["w"].data[..., -1] |= np.uint32(1 << 31)
    with pytest.raises(ValueError, match="bits set beyond channel 40"):
        bconv2d.prepare(g.ops[0], g)

    g = bconv2d_case(rng, cin=8, cout=8)
    g.tensors["flip"].data[0] = 2
    with pytest.raises(ValueError, match="other than 0/1"):
        bconv2d.prepare(g.ops[0], g)

    g = conv2d_threshold_case(rng, cin=2, cout=8)
    g.tensors["x"].dtype = "float32"
    with pytest.raises(ValueError, match="needs int8"):
        conv2d_threshold.prepare(g.ops[0], g)

    g = conv2d_threshold_case(rng, cin=1, cout=4)
    g.ops[0].attrs["padding"] = "full"
    with pytest.raises(ValueError, match="not 'same' or 'valid'"):
        conv2d_threshold.prepare(g.ops[0], g)

    big = np.full((1, 99, 99, 40), 127, dtype=np.int8)  # 99*99*40*255*127 > 2^31
    g = graph_of("conv2d_threshold",
                 [t("x", (1, 99, 99, 40), "int8", quant=Quant(np.array([0.1], np.float32), np.array([-128]))),
                  t("w", big.shape, "int8", big), t("thr", (1,), "int32", np.zeros(1, np.int32)),
                  t("flip", (1,), "uint8", np.zeros(1, np.uint8))],
                 t("y", (1, 1, 1, 1), "uint32"), padding="valid")
    with pytest.raises(ValueError, match="overflow"):
        conv2d_threshold.prepare(g.ops[0], g)

    g = bconv2d_int8w_case(rng, cin=5, cout=3)
    g.ops[0].attrs["pad_value"] = 1
    with pytest.raises(ValueError, match="pad_value"):
        bconv2d_int8w.prepare(g.ops[0], g)

    g = mean_f32_case(rng)
    g.tensors["y"].shape = (1, 999)
    with pytest.raises(ValueError, match="expected"):
        mean_f32.prepare(g.ops[0], g)

    g = bmax_pool2d_case(rng, channels=33)
    del g.ops[0].attrs["channels"]
    with pytest.raises(ValueError, match="'channels' is missing"):
        bmax_pool2d.prepare(g.ops[0], g)


def test_deferred_popcount_counts_every_differing_bit(tmp_path):
    """mf_bits_differ (carry-save adders over 8-word blocks, byte counts for the rest) == numpy,
    for every length 0..100 including all-bits-differ, where its counters and byte counts peak."""
    from kernel_harness import compile_sources

    src = tmp_path / "differ.c"
    src.write_text('#include "mf_bits.h"\n'
                   "int32_t differ(const uint32_t *a, const uint32_t *b, int32_t n) { return mf_bits_differ(a, b, n); }\n")
    lib = ctypes.CDLL(str(compile_sources([src], "differ")))
    lib.differ.restype = ctypes.c_int32
    rng = np.random.default_rng(5)
    for n in range(101):
        for a, b in [(rng.integers(0, 2**32, n, dtype=np.uint32), rng.integers(0, 2**32, n, dtype=np.uint32)),
                     (np.full(n, 0xFFFFFFFF, np.uint32), np.zeros(n, np.uint32))]:
            a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
            want = int(np.unpackbits((a ^ b).view(np.uint8)).sum())
            assert lib.differ(_p(a), _p(b), ctypes.c_int32(n)) == want, n


def test_pack_unpack_round_trip_and_layout():
    bits = np.zeros(40, dtype=np.uint8)
    bits[[0, 31, 32, 39]] = 1
    packed = pack_bits(bits)
    assert packed.tolist() == [1 | (1 << 31), 1 | (1 << 7)]
    np.testing.assert_array_equal(unpack_bits(packed, 40), bits)
    rng = np.random.default_rng(0)
    many = rng.integers(0, 2, (3, 5, 70))
    np.testing.assert_array_equal(unpack_bits(pack_bits(many), 70), many)
    with pytest.raises(ValueError, match="0/1"):
        pack_bits(np.array([1, -1]))


@pytest.mark.parametrize("cpu_flags", [
    ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],  # DSP (SMLAD) paths
    ["-mcpu=cortex-m0", "-mthumb"],                                          # portable paths
])
def test_kernels_compile_for_cortex_m(tmp_path, cpu_flags):
    for name in CASES:
        cmd = ["arm-none-eabi-gcc", *cpu_flags, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic",
               f"-I{KERNELS}", "-c", str(KERNELS / f"{name}.c"), "-o", str(tmp_path / f"{name}.o")]
        res = subprocess.run(cmd, capture_output=True, text=True)
        assert res.returncode == 0, f"{name}: {res.stderr}"


# ---------------------------------------------------------------- a batch through the references


@pytest.mark.parametrize("kind", sorted(k for k in CASES if getattr(__import__("mcuforge").ops.get(k), "BATCHED", False)))
def test_batched_reference_equals_one_sample_at_a_time(kind):
    """run_graph_batch (bench/head_ceiling.py's embeddings) gives each sample's run_graph values."""
    from mcuforge.reference.executor import run_graph, run_graph_batch

    rng = np.random.default_rng(sum(map(ord, kind)) + 1)
    for case in range(3):
        g = CASES[kind](rng)
        batch = [np.stack([random_input(rng, g, n) for _ in range(5)]) for n in g.inputs]
        got = run_graph_batch(g, batch)[0]
        assert got.shape[0] == 5
        for i in range(5):
            np.testing.assert_array_equal(got[i : i + 1], run_graph(g, [b[i] for b in batch])[0],
                                          err_msg=f"{kind} case {case} sample {i}")


def test_batched_executor_refuses_an_op_that_takes_one_sample():
    from mcuforge.reference.executor import run_graph_batch

    g = mean_f32_case(np.random.default_rng(0))
    g.ops[0].kind = "softmax"  # an int8 op whose reference takes one sample
    with pytest.raises(ValueError, match="softmax take one sample at a time"):
        run_graph_batch(g, [random_input(np.random.default_rng(1), g, g.inputs[0])])
