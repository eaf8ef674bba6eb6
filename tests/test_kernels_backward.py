"""The int8 backward kernels (input gradient, QAS-scaled in-place weight and bias steps of fully
connected, conv2d, 1x1 conv2d and depthwise conv2d): C == numpy twin on the host and on the
emulated board (carrying the trained tensors across steps), and the numpy twin == TensorFlow's
autodiff of the float64 graph within the rounding the int8 formats allow (stated per test); the
loss (softmax cross-entropy) and global-average-pooling gradients == their numpy twins on the
host and on the emulated board."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from backward_cases import KINDS, layer_case, random_inputs
from kernel_harness import run_emitted
from mcuforge import ops
from mcuforge.graph.lower import lower
from mcuforge.model.errors import UnsupportedOpError
from mcuforge.reference.executor import initial_state, run_graph


@pytest.mark.parametrize("kind", KINDS)
def test_c_backward_equals_numpy_on_host(kind):
    rng = np.random.default_rng(sum(map(ord, kind)))
    for _ in range(4):
        g = layer_case(rng, kind)
        values = dict(zip(g.inputs, random_inputs(rng, g)), **initial_state(g))
        for op in g.ops:
            args = [values[n] for n in op.inputs]
            got = run_emitted(op, g, args)
            want = ops.get(op.kind).reference(op, g, args)
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a, b, err_msg=f"{op.kind}: C differs from numpy")


# ---------------------------------------------------------------- against float64 autodiff


def _real(graph, name, values):
    t = graph.tensor(name)
    q = t.quant
    scale = q.scale.astype(np.float64)
    if q.per_channel:  # broadcast the per-channel scales along their axis
        shape = [1] * len(t.shape)
        shape[q.axis] = -1
        scale = scale.reshape(shape)
    return scale * (values.astype(np.float64) - q.zero_point.reshape(-1)[0])


def _dilate(tf, f, dilation):
    """A (KH, KW, I, O) filter with zeros between its taps: TF's CPU convolutions have no
    gradient for dilation rates above 1, so the dilation is spelled out in the filter."""
    (dh, dw), (kh, kw) = dilation, f.shape[:2]
    g = tf.pad(f[:, None, :, None], [[0, 0], [0, dh - 1], [0, 0], [0, dw - 1], [0, 0], [0, 0]])
    return tf.reshape(g, (kh * dh, kw * dw, *f.shape[2:]))[:(kh - 1) * dh + 1, :(kw - 1) * dw + 1]


def _tf_gradients(kind, attrs, dz, x, w, b):
    """dL/dx, dL/dW, dL/db of L = sum(dz * z), z the layer's float64 output before its clamp
    (x, w, b real-valued): TensorFlow's autodiff, independent of the integer code."""
    import tensorflow as tf

    xr, wr, br = tf.Variable(x), tf.Variable(w), tf.Variable(b)
    with tf.GradientTape() as tape:
        if kind == "fully_connected":
            z = tf.reshape(xr, (-1, w.shape[1])) @ tf.transpose(wr) + br
        elif kind == "depthwise_conv2d":  # one conv2d per input channel (TF's depthwise needs equal strides)
            kh, kw, cm = w.shape[1:]
            m = attrs["depth_multiplier"]
            filt = _dilate(tf, tf.reshape(wr, (kh, kw, cm // m, m)), attrs["dilation"])
            z = tf.concat([tf.nn.conv2d(xr[..., c:c + 1], filt[:, :, c:c + 1, :], (1, *attrs["stride"], 1),
                                        attrs["padding"].upper())
                           for c in range(cm // m)], axis=-1) + br
        else:
            filt = _dilate(tf, tf.transpose(wr, (1, 2, 3, 0)), attrs["dilation"])
            z = tf.nn.conv2d(xr, filt, (1, *attrs["stride"], 1), attrs["padding"].upper()) + br
        loss = tf.reduce_sum(tf.reshape(tf.constant(dz), z.shape) * z)
    return [v.numpy() for v in tape.gradient(loss, [xr, wr, br])]


def _check_step(new, old, float_step, op, lo, hi, what, unit=None):
    """The integer step equals the float64 QAS step rounded to nearest: within 1/2 plus the
    Q31 multiplier's first rounding (2^shift / 2), plus 1e-6 relative; with ``unit`` (a master
    copy's step, one rounding at that fraction of a unit) within unit / 2 plus 1e-6 relative;
    channels not listed stay."""
    shift = np.asarray(op.attrs["step_shift"], np.float64).reshape(-1, *[1] * (old.ndim - 1))
    tol = (0.5 + 0.5 * 2.0 ** np.minimum(shift, 0) if unit is None else unit / 2) + 1e-6 * np.abs(float_step)
    want = np.clip(old - float_step, lo, hi)
    off = np.abs(new - want) > tol
    mask = np.zeros(old.shape[0], bool)
    mask[op.attrs["channels"]] = True
    off &= mask.reshape(-1, *[1] * (old.ndim - 1))
    assert not off.any(), f"{what}: {int(off.sum())} steps off the float64 QAS step, e.g. {new[off][:4]} vs {want[off][:4]}"
    np.testing.assert_array_equal(new[~mask], old[~mask], err_msg=f"{what}: a channel not listed changed")


@pytest.mark.parametrize("kind", KINDS)
def test_numpy_backward_equals_float64_autodiff(kind):
    """Input gradient: |s_gx * gx - dL/dx| <= s_gx / 2 (its rounding) + s_g * max s_W * (1/2 + 2^-17
    * sum |w| |g|) (the 2^-16 rounding and the Q16 scale ratios), or saturated at the int8 bound
    the float value lies beyond. Weight and bias: the QAS step lr * dL/dW / s_W (and lr * dL/db /
    s_b) rounded to nearest (see _check_step), clamped to [-127, 127] / int32; a weight's master
    copy (w + r / 2^16) moves by the step within 2^-17, the int8 weight is it rounded to the nearest unit."""
    rng = np.random.default_rng(7 + sum(map(ord, kind)))
    for _ in range(5):
        graph = layer_case(rng, kind)
        g, y, x = random_inputs(rng, graph)
        gx, w_new, r_new, b_new = run_graph(graph, [g, y, x])
        a = graph.ops[0].attrs
        inside = (y > a["act_min"]) & (y < a["act_max"])
        w_t = graph.tensor("w")
        xr, wr, br = (_real(graph, n, v) for n, v in (("x", x), ("w", w_t.data), ("b", graph.tensor("b").data)))
        dx, dw, db = _tf_gradients(kind, a, np.where(inside, _real(graph, "g", g), 0.0), xr, wr, br)
        # bound of the Q16 ratio error: sum over the taps reaching each input of |w| * |g|
        wide = _tf_gradients(kind, a, np.where(inside, np.abs(g.astype(np.float64)), 0.0), xr,
                             np.abs(w_t.data.astype(np.float64)), br)[0]
        s_gx, s_g = graph.tensor("gx").quant.s, graph.tensor("g").quant.s
        s_wmax = float(w_t.quant.scale.max())
        tol = s_gx / 2 + s_g * s_wmax * (0.5 + 2.0**-17 * wide) + 1e-9
        got = s_gx * gx.astype(np.float64)
        top, bottom = 127 * s_gx, -128 * s_gx
        ok = (np.abs(got - dx) <= tol) | ((gx == 127) & (dx >= top - tol)) | ((gx == -128) & (dx <= bottom + tol))
        assert ok.all(), f"{kind}: input gradient off by {np.abs(got - dx)[~ok][:4]} (tolerance {np.broadcast_to(tol, ok.shape)[~ok][:4]})"
        upd, bias = graph.ops[1], graph.ops[2]
        scales = w_t.quant.scale.astype(np.float64)
        master_old = w_t.data + graph.tensor("r").data / 2.0**16
        master_new = w_new + r_new / 2.0**16
        np.testing.assert_array_equal(w_new, np.floor(master_new + 0.5), err_msg=f"{kind}: w is not the master rounded")
        if kind == "depthwise_conv2d":  # channels on the last axis: check on axis 0
            new, old = np.moveaxis(master_new[0], -1, 0), np.moveaxis(master_old[0], -1, 0)
            step = np.moveaxis(dw[0], -1, 0) / scales.reshape(-1, 1, 1) * upd.attrs["learning_rate"]
        else:
            new, old = master_new, master_old
            step = dw / scales.reshape(-1, *[1] * (dw.ndim - 1)) * upd.attrs["learning_rate"]
        _check_step(new, old, step, upd, -127, 127, f"{kind} weights", unit=2.0**-16)
        b_step = db / graph.tensor("b").quant.scale.astype(np.float64) * bias.attrs["learning_rate"]
        _check_step(b_new.astype(np.int64), graph.tensor("b").data.astype(np.int64), b_step, bias,
                    -(2**31), 2**31 - 1, f"{kind} bias")


# ---------------------------------------------------------------- refusals


def test_update_refusals_name_the_problem():
    rng = np.random.default_rng(3)
    g = layer_case(rng, "conv2d")
    bad = copy.deepcopy(g)
    bad.tensor("w").persist = ""
    with pytest.raises(UnsupportedOpError, match="only a trainable tensor is updated in place"):
        lower(bad)
    bad = copy.deepcopy(g)
    bad.tensor("r").persist = ""
    with pytest.raises(UnsupportedOpError, match="residual 'r' is constant; only a trainable tensor"):
        lower(bad)
    bad = copy.deepcopy(g)
    bad.tensor("g").quant.zero_point[:] = 3
    with pytest.raises(UnsupportedOpError, match="gradients are symmetric"):
        lower(bad)
    bad = copy.deepcopy(g)
    bad.ops[1].attrs["channels"] = [99]
    with pytest.raises(UnsupportedOpError, match="non-empty subset"):
        lower(bad)
    bad = copy.deepcopy(g)
    bad.ops[2].attrs["learning_rate"] = 0.0
    with pytest.raises(UnsupportedOpError, match="learning_rate must be > 0"):
        lower(bad)
    bad = copy.deepcopy(g)
    bad.ops[2].attrs["learning_rate"] *= 2**31
    with pytest.raises(UnsupportedOpError, match="does not fit 32 bits"):
        lower(bad)


# ---------------------------------------------------------------- on the board


@pytest.mark.qemu
def test_backward_kernels_equal_numpy_on_target(tmp_path):
    """Two cases of each kind in one firmware; three training steps, the trained weights and
    biases carried in the arena from step to step as in the numpy twin's state."""
    from mcuforge.target import open_target
    from test_kernels_target import merge

    rng = np.random.default_rng(11)
    cases = [layer_case(rng, kind, partial=bool(i)) for kind in KINDS for i in range(2)]
    graph = merge(cases, "backward")
    lower(graph)
    state = initial_state(graph)
    with open_target(graph, "netduinoplus2", workdir=tmp_path) as target:
        for step in range(3):
            xs = random_inputs(rng, graph)
            want = run_graph(graph, xs, state)
            got, _ = target.run(xs)
            for name, a, b in zip(graph.outputs, got, want):
                np.testing.assert_array_equal(a.reshape(b.shape), b, err_msg=f"step {step}: {name} differs")
    changed = {n: int(np.abs(state[n].astype(np.int64) - graph.tensor(n).data).sum())
               for n in graph.outputs if n.endswith(("_w", "_r", "_b"))}
    assert sum(v > 0 for v in changed.values()) >= len(changed) - 1, changed  # (one 1x1x1x1 case may round to 0)


# ---------------------------------------------------------------- loss and pooling gradients


def _q(scale, zp=0):
    from mcuforge.graph.ir import Quant

    return Quant(np.array([scale], np.float32), np.array([zp], np.int64))


def _ce_graph(batches: int, classes: int):
    from mcuforge.graph.ir import Graph, Op, Tensor

    t = {"p": Tensor("p", (batches, classes), "int8", _q(1 / 256, -128)),
         "label": Tensor("label", (batches,), "int32"), "g": Tensor("g", (batches, classes), "int8", _q(1 / 128))}
    g = Graph("ce", t, [Op("softmax_cross_entropy_grad", ["p", "label"], ["g"])], ["p", "label"], ["g"])
    lower(g)
    return g


def _mean_graph(h: int, w: int, c: int):
    from mcuforge.graph.ir import Graph, Op, Tensor

    t = {"g": Tensor("g", (1, c), "int8", _q(0.01)), "y": Tensor("y", (1, c), "int8", _q(0.1, -3)),
         "gx": Tensor("gx", (1, h, w, c), "int8", _q(0.01 / (h * w)))}
    graph = Graph("mean", t, [Op("mean_grad_input", ["g", "y"], ["gx"])], ["g", "y"], ["gx"])
    lower(graph)
    return graph


def _fisher_graph(positions: int, channels: int, zp: int):
    from mcuforge.graph.ir import Graph, Op, Tensor

    shape = (1, positions, channels) if positions > 1 else (1, channels)
    t = {"a": Tensor("a", shape, "int8", _q(0.05, zp)), "ga": Tensor("ga", shape, "int8", _q(0.002)),
         "sums": Tensor("sums", (channels,), "int64", persist="state")}
    graph = Graph("fisher", t, [Op("fisher_potential", ["a", "ga", "sums"], ["sums"])], ["a", "ga"], ["sums"])
    lower(graph)
    return graph


def _select_graph(budget_ram: int, budget_macs: int):
    """tinytrain_select over three layers of 3, 5 and 2 channels, sums given as inputs."""
    from mcuforge.graph.ir import Graph, Op, Tensor

    chans = (3, 5, 2)
    t = {f"s{i}_sums": Tensor(f"s{i}_sums", (c,), "int64") for i, c in enumerate(chans)}
    t["chosen"] = Tensor("chosen", (sum(chans),), "int8")
    info = [[3, 300, 200, 40, 90], [5, 100, 120, 30, 60], [2, 50, 40, 10, 0]]
    op = Op("tinytrain_select", list(t)[:3], ["chosen"], dict(layer_info=info, factor=[1.0, 2.5, 1.0],
                                                            budget_ram=budget_ram, budget_macs=budget_macs))
    graph = Graph("select", t, [op], list(t)[:3], ["chosen"])
    lower(graph)
    return graph


def test_fisher_potential_c_equals_numpy_and_the_formula():
    """C == numpy on the host, both == sum over samples of (sum_d (a - zp) * g)^2 by Python
    integers; the sums saturate at INT64_MAX; a layer whose inner product could wrap 32 bits
    (65,794 positions of 255 x 128) is refused."""
    from mcuforge.graph.ir import Tensor

    rng = np.random.default_rng(4)
    graph = _fisher_graph(6, 5, -7)
    op = graph.ops[0]
    sums = np.zeros(5, np.int64)
    want = [0] * 5
    for _ in range(3):
        a, g = (rng.integers(-128, 128, (1, 6, 5)).astype(np.int8) for _ in range(2))
        got = run_emitted(op, graph, [a, g, sums])[0]
        np.testing.assert_array_equal(got, run_graph(graph, [a, g], {"sums": sums.copy()})[0])
        for c in range(5):
            want[c] += sum((int(a[0, d, c]) + 7) * int(g[0, d, c]) for d in range(6)) ** 2
        sums = got
        assert sums.tolist() == want
    full = np.full(5, np.iinfo(np.int64).max - 10, np.int64)
    a = np.full((1, 6, 5), 127, np.int8)
    got = run_emitted(op, graph, [a, a, full])[0]
    np.testing.assert_array_equal(got, np.iinfo(np.int64).max)
    np.testing.assert_array_equal(run_graph(graph, [a, a], {"sums": full.copy()})[0], got)
    big = _fisher_graph(2, 1, 0)
    big.tensors["a"] = Tensor("a", (1, 65794, 1), "int8", _q(0.05))
    big.tensors["ga"] = Tensor("ga", (1, 65794, 1), "int8", _q(0.002))
    with pytest.raises(UnsupportedOpError, match="65794 positions a channel: the inner product could wrap"):
        lower(big)


def test_cross_entropy_gradient_c_equals_numpy_and_p_minus_onehot():
    """C == numpy on the host; the gradient is p - onehot within its rounding (1/256), exactly
    -1 + p at the label; a label outside the classes gives p alone."""
    rng = np.random.default_rng(1)
    g = _ce_graph(3, 7)
    p = rng.integers(-128, 128, (3, 7)).astype(np.int8)
    p[0, 2] = 127  # a probability near 1 at a wrong class saturates at 127/128
    label = np.array([4, 0, 9], np.int32)
    got = run_emitted(g.ops[0], g, [p, label])[0]
    want = run_graph(g, [p, label])[0]
    np.testing.assert_array_equal(got, want)
    onehot = np.zeros((3, 7))
    onehot[0, 4] = onehot[1, 0] = 1
    real = (p.astype(np.float64) + 128) / 256 - onehot
    assert np.abs(want / 128 - real).max() <= 1 / 256 + 1e-12


def test_mean_gradient_c_equals_numpy_and_is_a_broadcast():
    rng = np.random.default_rng(2)
    graph = _mean_graph(3, 4, 5)
    gr, y = rng.integers(-128, 128, (1, 5)).astype(np.int8), np.array([[-128, 0, 5, 127, 1]], np.int8)
    got = run_emitted(graph.ops[0], graph, [gr, y])[0]
    np.testing.assert_array_equal(got, run_graph(graph, [gr, y])[0])
    want = np.where((y > -128) & (y < 127), gr, 0)
    np.testing.assert_array_equal(got.reshape(12, 5), np.broadcast_to(want, (12, 5)))
    bad = copy.deepcopy(graph)
    bad.tensor("gx").quant.scale[:] = 0.01
    with pytest.raises(UnsupportedOpError, match="output gradient's / 12"):
        lower(bad)


@pytest.mark.qemu
def test_loss_and_pooling_gradients_equal_numpy_on_target(tmp_path):
    """softmax_cross_entropy_grad (2, 7 and 12 classes, 1-4 rows), mean_grad_input (1x1, 3x4
    and 5x2 positions, 1-9 channels), fisher_potential (1, 12 and 500 positions, its int64
    sums carried across the trials in the board's state) and tinytrain_select (three budgets,
    sums with ties) in one firmware on netduinoplus2 == their numpy twins.
    The inputs reach what a wrong kernel gets wrong: odd probabilities (the half-up rounding),
    p = 127 at a wrong class and -128 at the label (the clamps), labels outside the classes,
    mean outputs at both int8 bounds (the mask), gradients of every sign."""
    from mcuforge.target import open_target
    from test_kernels_target import merge

    rng = np.random.default_rng(13)
    cases = [_ce_graph(1, 2), _ce_graph(3, 7), _ce_graph(4, 12), _mean_graph(1, 1, 9), _mean_graph(3, 4, 5),
             _mean_graph(5, 2, 1), _fisher_graph(1, 3, 0), _fisher_graph(12, 7, -128), _fisher_graph(500, 2, 5),
             _select_graph(10**6, 10**6), _select_graph(420, 10**6), _select_graph(10**6, 200)]
    graph = merge(cases, "loss_pool")
    lower(graph)
    seen, state = [], initial_state(graph)
    with open_target(graph, "netduinoplus2", workdir=tmp_path) as target:
        for trial in range(3):
            xs = []
            for name in graph.inputs:
                shape = graph.tensor(name).shape
                if name.endswith("_sums"):  # TinyTrain's choice: sums of a few values, so some tie
                    xs.append(rng.integers(0, 4, shape).astype(np.int64) * 10**12)
                    continue
                if name.endswith("label"):  # one row's label past the classes
                    classes = graph.tensor(name.replace("label", "p")).shape[1]
                    v = rng.integers(0, classes, shape)
                    v[trial % len(v)] = classes + trial
                    xs.append(v.astype(np.int32))
                    continue
                v = rng.integers(-128, 128, shape)
                edge = rng.random(shape) < 0.3
                v = np.where(edge, rng.choice([-128, 127], shape), v)
                if name.endswith("_y"):  # a mean output at each bound, then one inside
                    v.flat[trial % v.size] = (-128, 127, 0)[trial]
                xs.append(v.astype(np.int8))
            want = run_graph(graph, xs, state)  # the Fisher sums carry over from trial to trial
            got, _ = target.run(xs)
            for name, a, b in zip(graph.outputs, got, want):
                np.testing.assert_array_equal(a.reshape(b.shape), b, err_msg=f"trial {trial}: {name} differs")
            seen.append(want)
    # the inputs did reach both clamps of the loss gradient and the mean's mask
    ce = np.concatenate([w.reshape(-1) for want in seen for w in want[:3]])
    assert (ce == 127).any() and (ce == -128).any()
    assert all(any((want[i] == 0).any() for want in seen) for i in range(3, 6))
    # the choices: everything, then a part of the layers, then a part of a layer's channels
    picks = [int(want[k].sum()) for want in seen for k in (9, 10, 11)]
    assert picks[0] == 10 and 0 < min(picks[1::3]) and max(picks[1::3]) < 10 and max(picks[2::3]) < 10, picks
    # the Fisher sums grew past 32 bits (500 positions of up to 255 x 128, squared)
    assert seen[-1][8].max() > 2**32 and (seen[-1][8] > seen[0][8]).all()


# ---------------------------------------------------------------- clamp bits (activation_mask / unmask)


def _clamp_bits_graph(elements: int, activation: str, zp: int):
    """y int8 (1, elements) -> activation_mask -> bits -> activation_unmask -> y'; outputs both."""
    from mcuforge.graph.ir import Graph, Op, Tensor
    from mcuforge.ops.activation_mask import mask_bytes

    t = {"y": Tensor("y", (1, elements), "int8", _q(0.05, zp)),
         "bits": Tensor("bits", (mask_bytes(elements),), "uint8"),
         "stand": Tensor("stand", (1, elements), "int8", _q(0.05, zp))}
    graph = Graph("bits", t, [Op("activation_mask", ["y"], ["bits"], dict(activation=activation)),
                              Op("activation_unmask", ["bits"], ["stand"], dict(activation=activation))],
                  ["y"], ["bits", "stand"])
    lower(graph)
    return graph


def test_clamp_bits_keep_exactly_what_the_backward_reads():
    """Every backward op reads a layer output only through ``act_min < y < act_max``: the stand-in
    rebuilt from the bits passes that test exactly where the output does, for ReLU, ReLU6 and no
    activation (int8 saturation), sizes that are not a multiple of 8 (the last byte's high bits 0)."""
    from mcuforge.ops import _train

    rng = np.random.default_rng(4)
    for elements, activation, zp in ((1, "relu", -128), (13, "relu6", -128), (64, "none", 3), (9, "relu", 10)):
        graph = _clamp_bits_graph(elements, activation, zp)
        mask = graph.ops[0]
        lo, hi = mask.attrs["act_min"], mask.attrs["act_max"]
        y = rng.integers(-128, 128, (1, elements)).astype(np.int8)
        y.flat[0], y.flat[-1] = lo, hi  # each bound: outside
        bits, stand = run_graph(graph, [y])
        assert bits.dtype == np.uint8 and bits.size == (elements + 7) // 8
        assert int(bits[-1]) >> (elements % 8 or 8) == 0
        grad = rng.integers(-128, 128, y.shape)
        np.testing.assert_array_equal(_train.masked(grad, stand, mask), _train.masked(grad, y, mask))


@pytest.mark.qemu
def test_clamp_bits_equal_numpy_on_target(tmp_path):
    """activation_mask and activation_unmask in one firmware on netduinoplus2 == their numpy twins,
    outputs at both clamp bounds and just inside them."""
    from mcuforge.target import open_target
    from test_kernels_target import merge

    rng = np.random.default_rng(21)
    cases = [_clamp_bits_graph(1, "relu", -128), _clamp_bits_graph(13, "relu6", -128),
             _clamp_bits_graph(64, "none", 3), _clamp_bits_graph(203, "relu", 10)]
    graph = merge(cases, "clamp_bits")
    lower(graph)
    clamps = [(g.ops[0].attrs["act_min"], g.ops[0].attrs["act_max"]) for g in cases]
    with open_target(graph, "netduinoplus2", workdir=tmp_path) as target:
        for trial in range(3):
            xs = []
            for name, (lo, hi) in zip(graph.inputs, clamps):
                shape = graph.tensor(name).shape
                v = rng.integers(-128, 128, shape)
                v = np.where(rng.random(shape) < 0.4, rng.choice([lo, lo + 1, hi - 1, hi], shape), v)
                xs.append(v.astype(np.int8))
            want = run_graph(graph, xs)
            got, _ = target.run(xs)
            for name, a, b in zip(graph.outputs, got, want):
                np.testing.assert_array_equal(a.reshape(b.shape), b, err_msg=f"trial {trial}: {name} differs")
