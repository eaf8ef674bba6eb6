"""Random backward graphs of one int8 layer (fully connected, conv2d, 1x1 pointwise conv2d,
depthwise conv2d), shared by the backward-kernel tests: inputs ``[g, y, x]`` (the output gradient,
the forward output, the forward input), trainable weights ``w`` with their int16 residual ``r`` (the master copy's
fraction bits, starting at random) and bias ``b``, and three ops in the order a training step runs
them: the input gradient (with the weights before the step), the weight update, the bias update,
in place. Outputs ``[gx, w, r, b]``."""
from __future__ import annotations

import math

import numpy as np

from mcuforge.graph.ir import Graph, Op, Quant, Tensor
from mcuforge.graph.lower import lower
from mcuforge.ops.conv2d import conv_output_size

KINDS = ("fully_connected", "conv2d", "pointwise", "depthwise_conv2d")


def _q(scale, zp=0, axis=0) -> Quant:
    return Quant(np.asarray(scale, np.float32).reshape(-1), np.asarray(zp, np.int64).reshape(-1), axis)


def geometry(rng, kind: str) -> dict:
    """Random shapes and options of one forward layer (stride and dilation never both above 1:
    TFLite models and TF's CPU convolutions do not combine them)."""
    p = dict(h=int(rng.integers(1, 9)), w=int(rng.integers(1, 9)), cin=int(rng.integers(1, 7)),
             cout=int(rng.integers(1, 7)), mult=int(rng.integers(1, 3)), kh=int(rng.integers(1, 5)),
             kw=int(rng.integers(1, 5)), stride=(int(rng.integers(1, 3)), int(rng.integers(1, 4))), dilation=(1, 1),
             padding=str(rng.choice(["same", "valid"])), activation=str(rng.choice(["none", "relu", "relu6"])),
             per_channel=bool(rng.random() < 0.8), batches=int(rng.integers(1, 5)))
    if rng.random() < 0.3:
        p["dilation"], p["stride"] = (int(rng.integers(1, 3)), int(rng.integers(1, 4))), (1, 1)
    if kind == "pointwise":
        p.update(kh=1, kw=1, stride=(1, 1), dilation=(1, 1))
    if p["padding"] == "valid":
        p["kh"] = min(p["kh"], (p["h"] - 1) // p["dilation"][0] + 1)
        p["kw"] = min(p["kw"], (p["w"] - 1) // p["dilation"][1] + 1)
    return p


def layer_case(rng, kind: str, partial: bool | None = None) -> Graph:
    """One layer's backward graph; ``partial``: update a random subset of the output channels
    (default: at random)."""
    p = geometry(rng, kind)
    conv_kind = "conv2d" if kind == "pointwise" else kind
    if kind == "fully_connected":
        depth, units = p["cin"] * p["h"], p["cout"]
        x_shape, y_shape, w_shape, axis, cout = (p["batches"], depth), (p["batches"], units), (units, depth), 0, units
        fan_in, fan_out, positions = depth, units, p["batches"]
    else:
        cout = p["cin"] * p["mult"] if kind == "depthwise_conv2d" else p["cout"]
        oh = conv_output_size(p["padding"], p["h"], p["kh"], p["stride"][0], p["dilation"][0])
        ow = conv_output_size(p["padding"], p["w"], p["kw"], p["stride"][1], p["dilation"][1])
        x_shape, y_shape = (1, p["h"], p["w"], p["cin"]), (1, oh, ow, cout)
        if kind == "depthwise_conv2d":
            w_shape, axis, fan_out = (1, p["kh"], p["kw"], cout), 3, p["mult"] * p["kh"] * p["kw"]
        else:
            w_shape, axis, fan_out = (cout, p["kh"], p["kw"], p["cin"]), 0, cout * p["kh"] * p["kw"]
        positions = oh * ow
    s_x, zx = float(rng.uniform(0.005, 0.05)), int(rng.integers(-128, 128))
    base = rng.uniform(0.002, 0.02)
    s_w = (base * rng.uniform(0.25, 1.0, cout) if p["per_channel"] else np.array([base])).astype(np.float32)
    s_y, zy = float(rng.uniform(0.01, 0.1)), int(rng.integers(-128, 0))
    s_g = float(2.0 ** rng.uniform(-14, -6))
    # input gradients: two standard deviations of a sum of fan_out int8 x int8 terms at full
    # scale (taps in the padding and masked gradients make it less): a few saturate
    s_gx = float(s_g * s_w.max() * 73 * 73 * math.sqrt(fan_out) / 127 * 2)
    # steps of a few int8 units: lr * s_g * s_x / s_W * (std of the sum) ~ 3
    lr = float(3 * float(np.median(s_w)) / (s_g * s_x * 73 * 75 * math.sqrt(positions)))
    partial = bool(rng.random() < 0.4) if partial is None else partial
    chans = sorted(rng.choice(cout, size=max(1, cout // 2), replace=False).tolist()) if partial else None
    w0 = rng.integers(-127, 128, w_shape).astype(np.int8)
    b0 = rng.integers(-3000, 3000, cout).astype(np.int32)
    # the master copy's residual, at random, from its own generator (the cases' draws stay as they were)
    residual = np.random.default_rng(int(np.abs(w0.astype(np.int64)).sum())).integers(-2**15, 2**15, w_shape)
    residual = residual.astype(np.int16)
    t = {
        "x": Tensor("x", x_shape, "int8", _q(s_x, zx)),
        "y": Tensor("y", y_shape, "int8", _q(s_y, zy)),
        "g": Tensor("g", y_shape, "int8", _q(s_g)),
        "gx": Tensor("gx", x_shape, "int8", _q(s_gx)),
        "w": Tensor("w", w_shape, "int8", _q(s_w, np.zeros(s_w.size), axis), data=w0, persist="trainable"),
        "r": Tensor("r", w_shape, "int16", data=residual, persist="trainable"),
        "b": Tensor("b", (cout,), "int32", _q(np.float32(s_x) * s_w, np.zeros(s_w.size)), data=b0,
                    persist="trainable"),
    }
    fwd = dict(activation=p["activation"])
    if kind != "fully_connected":
        fwd.update(stride=p["stride"], dilation=p["dilation"], padding=p["padding"])
    if kind == "depthwise_conv2d":
        fwd["depth_multiplier"] = p["mult"]
    step = dict(fwd, learning_rate=lr, channels=chans)
    ops = [
        Op(f"{conv_kind}_grad_input", ["g", "y", "w"], ["gx"], dict(fwd), index=0, name="grad_input"),
        Op(f"{conv_kind}_update", ["g", "y", "x", "w", "r"], ["w", "r"], dict(step), index=1, name="weights"),
        Op("bias_update", ["g", "y", "b"], ["b"], dict(step, learning_rate=lr * 0.5), index=2, name="bias"),
    ]
    g = Graph(f"backward_{kind}", t, ops, inputs=["g", "y", "x"], outputs=["gx", "w", "r", "b"])
    lower(g)
    return g


def random_inputs(rng, graph: Graph) -> list[np.ndarray]:
    """g, y, x for every case of a (merged) graph: y with ~15% of its values at the forward
    clamp's bounds (where the gradient must stop), the rest inside."""
    out = []
    for name in graph.inputs:
        t = graph.tensor(name)
        v = rng.integers(-128, 128, t.shape).astype(np.int8)
        if name.endswith("y"):
            op = next(o for o in graph.ops if o.inputs[1] == name)
            lo, hi = op.attrs["act_min"], op.attrs["act_max"]
            v = rng.integers(lo, hi + 1, t.shape)
            edge = rng.random(t.shape) < 0.15
            v = np.where(edge, np.where(rng.random(t.shape) < 0.5, lo, hi), v).astype(np.int8)
        out.append(v)
    return out
