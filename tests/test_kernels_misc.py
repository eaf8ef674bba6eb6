"""avg/max pooling, mean, add, softmax, quantize, dequantize, reshape: C kernels == numpy references.

Every case goes through the op's real ``emit()``: the emitted params struct and call are
compiled natively (gcc -Werror) together with the kernel sources and run via ctypes, so the
C kernel, its params layout and the generated call are all checked against ``reference()``.
Random shapes and quantization (zero points at the extremes included) plus edge cases:
saturation, negative rounding ties, padding at the borders, constant softmax rows.

The random case builders here are shared with tests/test_kernels_misc_tflm.py.
"""
from __future__ import annotations

import ctypes
import subprocess

import numpy as np
import pytest

from kernel_harness import KERNELS, build_dir, check_guards, compile_sources, out_buffer
from mcuforge import ops
from mcuforge.codegen.context import EmitContext
from mcuforge.graph.ir import DTYPES, Graph, Op, Quant, Tensor
from mcuforge.ops._pooling import out_size

MY_KERNELS = ["avg_pool2d", "max_pool2d", "mean", "add", "softmax", "quantize", "dequantize"]
ACTIVATIONS = ["none", "relu", "relu6", "relu_n1_to_1"]


# ---------------------------------------------------------------- graph builders


def tensor(name, shape, dtype="int8", scale=None, zp=0, data=None) -> Tensor:
    quant = None
    if scale is not None:
        quant = Quant(scale=np.array([scale], dtype=np.float32), zero_point=np.array([zp], dtype=np.int64))
    return Tensor(name=name, shape=tuple(int(d) for d in shape), dtype=dtype, quant=quant, data=data)


def single_op(kind, ins: list[Tensor], out: Tensor, **attrs) -> Graph:
    tensors = {t.name: t for t in ins + [out]}
    op = Op(kind=kind, inputs=[t.name for t in ins], outputs=[out.name], attrs=dict(attrs), index=0, name=kind)
    return Graph(name=kind, tensors=tensors, ops=[op], inputs=[t.name for t in ins if not t.is_const], outputs=[out.name])


def rand_scale(rng) -> float:
    return float(np.float32(10 ** rng.uniform(-3, 0.5)))


def rand_zp(rng) -> int:
    return int(rng.choice([-128, 127, 0, int(rng.integers(-128, 128))]))


def pool_case(rng, kind: str) -> Graph:
    n = int(rng.choice([1, 1, 2]))
    h, w, c = (int(v) for v in rng.integers(1, 10, 3))
    fh, fw = (int(v) for v in rng.integers(1, 5, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    padding = "valid" if rng.random() < 0.4 and fh <= h and fw <= w else "same"
    oh, ow = out_size(padding, h, fh, sh), out_size(padding, w, fw, sw)
    s, z = rand_scale(rng), rand_zp(rng)
    return single_op(kind, [tensor("x", (n, h, w, c), scale=s, zp=z)], tensor("y", (n, oh, ow, c), scale=s, zp=z),
                     filter=(fh, fw), stride=(sh, sw), padding=padding, activation=str(rng.choice(ACTIVATIONS)))


def mean_case(rng, max_axes: int = 4) -> Graph:
    rank = int(rng.integers(2, 5))
    shape = tuple(int(v) for v in rng.integers(1, 8, rank))
    if rank == 4:
        shape = (1,) + shape[1:]
    k = int(rng.integers(1, min(rank, max_axes) + 1))
    axes = tuple(sorted(int(a) for a in rng.choice(rank, size=k, replace=False)))
    keepdims = bool(rng.integers(0, 2))
    out_shape = tuple(1 if i in axes else d for i, d in enumerate(shape) if keepdims or i not in axes)
    s, z = rand_scale(rng), rand_zp(rng)
    so, zo = (s, z) if rng.random() < 0.35 else (rand_scale(rng), rand_zp(rng))  # equal quantization too
    return single_op("mean", [tensor("x", shape, scale=s, zp=z)], tensor("y", out_shape, scale=so, zp=zo),
                     axes=axes, keepdims=keepdims)


def add_case(rng) -> Graph:
    rank = int(rng.integers(1, 5))
    shape = tuple(int(v) for v in rng.integers(1, 6, rank))
    return single_op("add", [tensor("a", shape, scale=rand_scale(rng), zp=rand_zp(rng)),
                             tensor("b", shape, scale=rand_scale(rng), zp=rand_zp(rng))],
                     tensor("y", shape, scale=rand_scale(rng), zp=rand_zp(rng)),
                     activation=str(rng.choice(ACTIVATIONS)))


def softmax_case(rng) -> Graph:
    shape = tuple(int(v) for v in rng.integers(1, 4, int(rng.integers(0, 3)))) + (int(rng.integers(1, 48)),)
    beta = float(np.float32(rng.choice([1.0, 1.0, 0.5, 2.0, rng.uniform(0.05, 4.0)])))
    return single_op("softmax", [tensor("x", shape, scale=rand_scale(rng), zp=rand_zp(rng))],
                     tensor("y", shape, scale=1.0 / 256, zp=-128), beta=beta)


def quantize_case(rng) -> Graph:
    shape = (1, int(rng.integers(1, 80)))
    return single_op("quantize", [tensor("x", shape, "float32")], tensor("y", shape, scale=rand_scale(rng), zp=rand_zp(rng)))


def requantize_case(rng) -> Graph:
    shape = (1, int(rng.integers(1, 80)))
    return single_op("quantize", [tensor("x", shape, scale=rand_scale(rng), zp=rand_zp(rng))],
                     tensor("y", shape, scale=rand_scale(rng), zp=rand_zp(rng)))


def dequantize_case(rng) -> Graph:
    shape = (1, int(rng.integers(1, 80)))
    return single_op("dequantize", [tensor("x", shape, scale=rand_scale(rng), zp=rand_zp(rng))],
                     tensor("y", shape, "float32"))


def exact_ties(rng, scale: np.float32, n: int) -> np.ndarray:
    """n float32 values x with x / scale (float32 division, as the quantize kernels and TFLM do)
    exactly m + 0.5: real rounding ties by construction. The nearest float to (m + 0.5) scale
    is not always one, so its neighbours are tried too; m for which no float is a tie is skipped."""
    out = []
    while len(out) < n:
        half = np.float32(int(rng.integers(-200, 200)) + 0.5)
        x = np.float32(half * scale)
        for cand in (x, np.nextafter(x, np.float32(np.inf)), np.nextafter(x, np.float32(-np.inf))):
            if np.float32(cand / scale) == half:
                out.append(cand)
                break
    return np.array(out, np.float32)


def random_input(rng, graph: Graph, name: str) -> np.ndarray:
    t = graph.tensors[name]
    if t.dtype == "float32":
        # the scale of the op this input feeds (graphs may hold several independent cases)
        consumer = next(op for op in graph.ops if name in op.inputs)
        out = graph.tensors[consumer.outputs[0]]
        scale = np.float32(out.quant.s if out.quant is not None else 1.0)
        x = (rng.normal(0.0, 80.0, t.shape) * scale).astype(np.float32)
        flat = x.reshape(-1)
        k = flat.size // 3
        flat[:k] = exact_ties(rng, scale, k)
        return x
    x = rng.integers(-128, 128, t.shape).astype(np.int8)
    if rng.random() < 0.2:
        x[...] = rng.choice([-128, 127, int(rng.integers(-128, 128))])  # constant / saturated inputs
    return x


# ---------------------------------------------------------------- emit + compile + run


class Compiled:
    """A batch of single-op graphs compiled into one library: case i is ``mf_case_<i>``."""

    def __init__(self, graphs: list[Graph], name: str):
        self.graphs = graphs
        headers = sorted({f"{g.ops[0].kind}.h" for g in graphs if not getattr(ops.get(g.ops[0].kind), "ALIAS", False)})
        lines = ["#include <stdint.h>"] + [f'#include "{h}"' for h in headers]
        for i, g in enumerate(graphs):
            op = g.ops[0]
            exprs = {n: f"(({g.tensors[n].ctype} *)in{k})" for k, n in enumerate(op.inputs)}
            exprs.update({n: f"(({g.tensors[n].ctype} *)out{k})" for k, n in enumerate(op.outputs)})
            ctx = EmitContext(g, op, i, exprs)
            call = ops.get(op.kind).emit(op, g, ctx)
            lines += ctx.decls
            lines.append(f"void mf_case_{i}(void *in0, void *in1, void *out0)\n{{\n    (void)in1;\n    {call}\n}}")
        path = build_dir() / f"{name}_cases.c"
        path.write_text("\n\n".join(lines) + "\n")
        kernels = sorted({KERNELS / f"{g.ops[0].kind}.c" for g in graphs if (KERNELS / f"{g.ops[0].kind}.c").exists()})
        self.lib = ctypes.CDLL(str(compile_sources([path, *kernels], f"{name}_cases")))
        self.source = path.read_text()

    def run(self, i: int, inputs: list[np.ndarray]) -> np.ndarray:
        g = self.graphs[i]
        out_t = g.tensors[g.ops[0].outputs[0]]
        out = out_buffer(out_t.shape, DTYPES[out_t.dtype])
        args = [np.ascontiguousarray(x) for x in inputs] + [np.zeros(1, np.int8)] * (2 - len(inputs))
        getattr(self.lib, f"mf_case_{i}")(*(a.ctypes.data_as(ctypes.c_void_p) for a in args),
                                          out.ctypes.data_as(ctypes.c_void_p))
        check_guards(out)
        return out.copy()


def check_c_equals_reference(graphs: list[Graph], name: str, rng, inputs_per_case: int = 4,
                             fixed_inputs: dict[int, list[list[np.ndarray]]] | None = None) -> int:
    lib = Compiled(graphs, name)
    checked = 0
    for i, g in enumerate(graphs):
        op = g.ops[0]
        mod = ops.get(op.kind)
        batches = (fixed_inputs or {}).get(i) or [[random_input(rng, g, n) for n in op.inputs]
                                                  for _ in range(inputs_per_case)]
        for xs in batches:
            want = mod.reference(op, g, xs)[0]
            got = lib.run(i, xs)
            assert got.dtype == want.dtype and got.shape == want.shape
            if want.dtype == np.float32:
                # bit-exact, not approximately equal
                np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32), err_msg=f"{name} case {i}: {op.attrs}")
            else:
                np.testing.assert_array_equal(got, want, err_msg=f"{name} case {i}: {op.attrs} inputs {xs}")
            checked += 1
    return checked


# ---------------------------------------------------------------- random cases


@pytest.mark.parametrize("kind", ["avg_pool2d", "max_pool2d"])
def test_pooling_c_matches_reference(kind):
    rng = np.random.default_rng(11 if kind == "avg_pool2d" else 12)
    graphs = [pool_case(rng, kind) for _ in range(40)]
    assert check_c_equals_reference(graphs, kind, rng) == 160


def test_mean_c_matches_reference():
    rng = np.random.default_rng(13)
    graphs = [mean_case(rng) for _ in range(40)]
    assert check_c_equals_reference(graphs, "mean", rng) == 160


def test_add_c_matches_reference():
    rng = np.random.default_rng(14)
    graphs = [add_case(rng) for _ in range(40)]
    assert check_c_equals_reference(graphs, "add", rng) == 160


def test_softmax_c_matches_reference():
    rng = np.random.default_rng(15)
    graphs = [softmax_case(rng) for _ in range(40)]
    assert check_c_equals_reference(graphs, "softmax", rng, inputs_per_case=10) == 400


def test_quantize_dequantize_c_match_reference():
    rng = np.random.default_rng(16)
    graphs = [quantize_case(rng) for _ in range(15)] + [requantize_case(rng) for _ in range(15)] + \
             [dequantize_case(rng) for _ in range(15)]
    assert check_c_equals_reference(graphs, "quant", rng) == 180


# ---------------------------------------------------------------- edge cases


def test_avg_pool_rounds_negative_ties_away_from_zero_and_skips_padding():
    # 2x2 input, 3x3 SAME filter stride 1: every window is clipped by the border (padding not counted).
    g = single_op("avg_pool2d", [tensor("x", (1, 2, 2, 1), scale=0.1, zp=0)], tensor("y", (1, 2, 2, 1), scale=0.1, zp=0),
                  filter=(3, 3), stride=(1, 1), padding="same", activation="none")
    x = np.array([-1, -2, -2, -1], np.int8).reshape(1, 2, 2, 1)  # mean -1.5 -> -2 (half away from zero)
    want = np.full((1, 2, 2, 1), -2, np.int8)
    np.testing.assert_array_equal(ops.get("avg_pool2d").reference(g.ops[0], g, [x])[0], want)
    y = np.array([1, 2, 2, 1], np.int8).reshape(1, 2, 2, 1)  # +1.5 -> +2
    x3 = np.array([-1, -1, -1, 0], np.int8).reshape(1, 2, 2, 1)  # -0.75 -> -1
    assert check_c_equals_reference([g], "avg_edge", None, fixed_inputs={0: [[x], [y], [x3]]}) == 3
    assert ops.get("avg_pool2d").reference(g.ops[0], g, [y])[0].reshape(-1).tolist() == [2, 2, 2, 2]
    assert ops.get("avg_pool2d").reference(g.ops[0], g, [x3])[0].reshape(-1).tolist() == [-1, -1, -1, -1]


def test_max_pool_border_windows_and_relu_clamp():
    g = single_op("max_pool2d", [tensor("x", (1, 3, 3, 2), scale=0.05, zp=10)], tensor("y", (1, 2, 2, 2), scale=0.05, zp=10),
                  filter=(2, 2), stride=(2, 2), padding="same", activation="relu")
    x = np.full((1, 3, 3, 2), -128, np.int8)
    x[0, 2, 2, 0] = 5  # only pixel in the bottom-right window (the rest is padding)
    got = ops.get("max_pool2d").reference(g.ops[0], g, [x])[0]
    assert got[0, 1, 1, 0] == 10 and got[0, 0, 0, 1] == 10  # relu clamps to the zero point
    assert check_c_equals_reference([g], "max_edge", None, fixed_inputs={0: [[x]]}) == 1


def test_add_saturates_at_both_ends():
    g = single_op("add", [tensor("a", (1, 8), scale=0.5, zp=-128), tensor("b", (1, 8), scale=0.5, zp=127)],
                  tensor("y", (1, 8), scale=0.01, zp=0), activation="none")
    a = np.array([[127, -128, 127, -128, 0, 0, 127, -128]], np.int8)
    b = np.array([[127, -128, -128, 127, 0, 127, -128, -128]], np.int8)
    want = ops.get("add").reference(g.ops[0], g, [a, b])[0]
    assert want[0, 0] == 127 and want[0, 1] == -128
    assert check_c_equals_reference([g], "add_sat", None, fixed_inputs={0: [[a, b]]}) == 1


def test_mean_extreme_zero_points_and_saturation():
    rng = np.random.default_rng(17)
    graphs = [
        single_op("mean", [tensor("x", (1, 7, 7, 3), scale=0.02, zp=-128)], tensor("y", (1, 3), scale=0.02, zp=-128),
                  axes=(1, 2), keepdims=False),  # GlobalAveragePooling2D, equal quantization
        single_op("mean", [tensor("x", (1, 5, 4, 2), scale=0.5, zp=127)], tensor("y", (1, 1, 1, 2), scale=0.001, zp=0),
                  axes=(1, 2), keepdims=True),  # rescale that saturates
        single_op("mean", [tensor("x", (3, 70), scale=0.1, zp=3)], tensor("y", (3,), scale=0.07, zp=-5),
                  axes=(-1,), keepdims=False),  # negative axis, count not a power of two
    ]
    sat = np.full((1, 5, 4, 2), -128, np.int8)
    fixed = {1: [[sat], [np.full((1, 5, 4, 2), 127, np.int8)]]}
    assert check_c_equals_reference(graphs, "mean_edge", rng, fixed_inputs=fixed) == 10
    assert ops.get("mean").reference(graphs[1].ops[0], graphs[1], [sat])[0].reshape(-1).tolist() == [-128, -128]


def test_softmax_constant_rows_and_large_differences():
    g = single_op("softmax", [tensor("x", (4, 10), scale=0.5, zp=0)], tensor("y", (4, 10), scale=1 / 256, zp=-128), beta=1.0)
    x = np.zeros((4, 10), np.int8)
    x[1] = -128
    x[2, :] = -128
    x[2, 3] = 127  # one dominant logit: it gets everything, the rest (below diff_min) exactly -128
    x[3] = np.arange(-100, 100, 20)
    y = ops.get("softmax").reference(g.ops[0], g, [x])[0]
    assert (y[0] == y[0, 0]).all() and y[0, 0] in (-103, -102)  # 1/10 ~ 25.6/256 - 128
    assert y[2, 3] == 127 and (np.delete(y[2], 3) == -128).all()
    assert (np.diff(y[3].astype(int)) >= 0).all()
    assert check_c_equals_reference([g], "softmax_edge", None, fixed_inputs={0: [[x]]}) == 1


def test_quantize_rounds_ties_away_from_zero_and_saturates():
    g = single_op("quantize", [tensor("x", (1, 10), "float32")], tensor("y", (1, 10), scale=0.5, zp=3))
    x = np.array([[-1.25, -0.25, 0.25, 1.25, -0.75, 0.75, 1e6, -1e6, 63.0, -65.5]], np.float32)
    y = ops.get("quantize").reference(g.ops[0], g, [x])[0]
    # x / 0.5 = -2.5, -0.5, 0.5, 2.5 ... rounded half away from zero, + zp 3
    assert y.reshape(-1).tolist() == [0, 2, 4, 6, 1, 5, 127, -128, 127, -128]
    assert check_c_equals_reference([g], "quantize_edge", None, fixed_inputs={0: [[x]]}) == 1


def test_dequantize_is_one_float_multiply():
    g = single_op("dequantize", [tensor("x", (1, 256), scale=0.1, zp=-7)], tensor("y", (1, 256), "float32"))
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    y = ops.get("dequantize").reference(g.ops[0], g, [x])[0]
    assert y.dtype == np.float32
    assert y[0, 0] == np.float32(0.1) * np.float32(-121)
    assert check_c_equals_reference([g], "dequantize_edge", None, fixed_inputs={0: [[x]]}) == 1


def test_reshape_is_an_alias():
    mod = ops.get("reshape")
    shape = tensor("shape", (2,), "int32", data=np.array([1, 24], np.int32))  # as EXPAND_DIMS/RESHAPE carry one
    g = single_op("reshape", [tensor("x", (1, 2, 3, 4), scale=0.1), shape], tensor("y", (1, 24), scale=0.1))
    mod.prepare(g.ops[0], g)
    assert g.ops[0].inputs == ["x"] and g.constants() == []  # no unused constant array in the C code
    assert mod.ALIAS and mod.macs(g.ops[0], g) == 0
    x = np.arange(24, dtype=np.int8).reshape(1, 2, 3, 4)
    np.testing.assert_array_equal(mod.reference(g.ops[0], g, [x])[0], x.reshape(1, 24))
    ctx = EmitContext(g, g.ops[0], 0, {"x": "T_x", "y": "T_y"})
    assert mod.emit(g.ops[0], g, ctx).startswith("/*") and not ctx.decls


# ---------------------------------------------------------------- emitted code and errors


def test_emit_declares_readable_params_and_one_call():
    g = pool_case(np.random.default_rng(3), "avg_pool2d")
    ctx = EmitContext(g, g.ops[0], 7, {"x": "T_x", "y": "T_y"})
    call = ops.get("avg_pool2d").emit(g.ops[0], g, ctx)
    assert call == "mf_avg_pool2d(&L7_params, T_x, T_y);"
    assert len(ctx.decls) == 1 and ctx.decls[0].startswith("static const mf_avg_pool2d_params L7_params MF_CONST = {")
    assert ".filter_h = " in ctx.decls[0] and ".act_min = " in ctx.decls[0]


def test_macs():
    g = single_op("avg_pool2d", [tensor("x", (1, 4, 4, 3), scale=0.1)], tensor("y", (1, 2, 2, 3), scale=0.1),
                  filter=(2, 2), stride=(2, 2), padding="valid", activation="none")
    assert ops.get("avg_pool2d").macs(g.ops[0], g) == 4 * 4 * 3
    g = softmax_case(np.random.default_rng(0))
    assert ops.get("softmax").macs(g.ops[0], g) == g.tensors["x"].size


@pytest.mark.parametrize("graph, message", [
    (single_op("add", [tensor("a", (1, 4), scale=0.1), tensor("b", (1, 1), scale=0.1)], tensor("y", (1, 4), scale=0.1),
               activation="none"), "broadcasting"),
    (single_op("avg_pool2d", [tensor("x", (1, 4, 4, 1), scale=0.1)], tensor("y", (1, 2, 2, 1), scale=0.2),
               filter=(2, 2), stride=(2, 2), padding="valid", activation="none"), "quantization differ"),
    (single_op("max_pool2d", [tensor("x", (1, 4, 4, 1), scale=0.1)], tensor("y", (1, 3, 3, 1), scale=0.1),
               filter=(2, 2), stride=(2, 2), padding="valid", activation="none"), "does not match"),
    (single_op("softmax", [tensor("x", (1, 4), scale=0.1)], tensor("y", (1, 4), scale=0.1, zp=-128), beta=1.0),
     "scale 1/256"),
    (single_op("mean", [tensor("x", (1, 4, 4, 1), scale=0.1)], tensor("y", (1, 1), scale=0.1), axes=(4,),
               keepdims=False), "out of range"),
    (single_op("quantize", [tensor("x", (1, 4), "int16", scale=0.1)], tensor("y", (1, 4), scale=0.1)), "int16"),
    (single_op("dequantize", [tensor("x", (1, 4), scale=0.1)], tensor("y", (1, 4), scale=0.1)), "float32"),
    (single_op("reshape", [tensor("x", (1, 4), scale=0.1)], tensor("y", (1, 5), scale=0.1)), "elements"),
    (single_op("softmax", [tensor("x", (1, 4))], tensor("y", (1, 4), scale=1 / 256, zp=-128), beta=1.0),
     "no quantization"),
])
def test_prepare_rejects_bad_input_with_a_clear_error(graph, message):
    op = graph.ops[0]
    with pytest.raises(ValueError, match=message):
        ops.get(op.kind).prepare(op, graph)


def test_registered_with_tflite_names():
    names = ops.tflite_names()
    for tfl, kind in [("AVERAGE_POOL_2D", "avg_pool2d"), ("MAX_POOL_2D", "max_pool2d"), ("MEAN", "mean"),
                      ("ADD", "add"), ("SOFTMAX", "softmax"), ("QUANTIZE", "quantize"),
                      ("DEQUANTIZE", "dequantize"), ("RESHAPE", "reshape")]:
        assert names[tfl] == kind


@pytest.mark.parametrize("cpu_flags", [
    ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    ["-mcpu=cortex-m0", "-mthumb"],
])
def test_kernels_compile_for_cortex_m(tmp_path, cpu_flags):
    for name in MY_KERNELS:
        res = subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2",
                              *cpu_flags, f"-I{KERNELS}", "-c", str(KERNELS / f"{name}.c"), "-o", str(tmp_path / f"{name}.o")],
                             capture_output=True, text=True)
        assert res.returncode == 0, f"{name}.c: {res.stderr}"
