"""Compile-time autodiff: the training graph of an int8 classifier under a sparse update (Lin et
al. 2022, "On-Device Training Under 256KB Memory").

:func:`training_graph` takes a lowered inference graph that ends in an int8 softmax and returns
one graph whose invoke is one training step on one labelled sample: the forward pass (still the
int8 graph, bit-exact with TFLM before training starts), the softmax cross-entropy gradient, then
the backward of each layer from the last to the earliest one that trains, where

- the weights and biases being trained are **trainable** tensors (an arena copy of their flash
  constants; ``mf_model_reset()`` restores them) and every other weight stays in flash; each
  trained int8 weight tensor has an int16 residual beside it (trainable too, zero at the start):
  the higher-precision master copy its steps accumulate in (:mod:`mcuforge.ops._train`);
- the backward of everything before the earliest trained layer is pruned, and a layer's input
  gradient is computed only if a layer before it trains;
- each weight gradient is applied in place as soon as it exists (the update ops compute and apply
  it per weight, after that layer's input gradient has used the weights before the step), so no
  weight gradient is ever stored;
- forward activations the backward needs stay live in the one static arena (the planner sees
  their uses), gradient tensors are planned there like any activation.

Gradient tensors are int8 (:mod:`mcuforge.ops._train` states the formats); the logits gradient
has the fixed scale 1/128, each input gradient a scale calibrated on the host: the largest
magnitude the exact sums reach over the calibration samples, mapped to 127.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from .. import ops
from .ir import Graph, Op, Quant, Tensor
from .lower import lower

LAYERS = ("conv2d", "depthwise_conv2d", "fully_connected")
FORWARD_ATTRS = ("activation", "stride", "dilation", "padding", "depth_multiplier")


@dataclass
class SparseUpdate:
    """What trains: the biases of the last ``biases`` layers that have one, and the weights of the layers in
    ``weights`` (layer number among the conv/depthwise/fully connected layers, 0 = first) -> the
    fraction of their output channels (the first ceil(r * C)) or an explicit channel list."""

    biases: int = 0
    weights: dict[int, float | list[int]] = field(default_factory=dict)
    learning_rate: float = 0.01


def layers(graph: Graph) -> list[Op]:
    """The layers with weights, in execution order (what SparseUpdate numbers)."""
    return [op for op in graph.ops if op.kind in LAYERS]


def _grad_name(name: str) -> str:
    return f"grad:{name}"


def residual_name(weights: str) -> str:
    """The trainable int16 tensor that holds the fraction bits of a trained weight tensor's master copy."""
    return f"residual:{weights}"


def _residual_tensor(graph: Graph, of: str) -> str:
    t = graph.tensor(of)
    name = residual_name(of)
    graph.tensors[name] = Tensor(name, t.shape, "int16", data=np.zeros(t.shape, np.int16), persist="trainable")
    return name


def _grad_tensor(graph: Graph, of: str, scale: float) -> str:
    t = graph.tensor(of)
    name = _grad_name(of)
    graph.tensors[name] = Tensor(name, t.shape, "int8", Quant(np.array([scale], np.float32), np.array([0], np.int64)))
    return name


def _channels(spec, count: int) -> list[int]:
    if isinstance(spec, (list, tuple)):
        return sorted(int(c) for c in spec)
    if not 0.0 < float(spec) <= 1.0:
        raise ValueError(f"a fraction of output channels must be in (0, 1], got {spec}")
    return list(range(math.ceil(float(spec) * count)))


def _check_chain(graph: Graph) -> None:
    consumers = graph.consumers()
    for op in graph.ops[:-1]:
        if len(consumers.get(op.outputs[0], [])) != 1:
            raise ValueError(f"the backward handles chains of layers; the output of {op.kind} "
                             f"(model op {op.index}) feeds {len(consumers.get(op.outputs[0], []))} ops")


def training_graph(graph: Graph, update: SparseUpdate, calibration: list[np.ndarray],
                   read_back: bool = True, masks: bool = True) -> Graph:
    """The training graph (inputs: the model's input, then ``label`` int32 (B,); outputs: the
    probabilities, then with ``read_back`` every trainable tensor). ``calibration``: model inputs
    (with labels drawn from the probabilities' classes, cycling) that set the gradient scales.
    ``masks``: a layer output the backward reads only through its clamp is kept as bits
    (:func:`_keep_clamp_bits`) where that makes the arena smaller: the same maths in less memory."""
    g = copy.deepcopy(graph)
    g.name = f"{graph.name}_train"
    last = g.ops[-1]
    if last.kind != "softmax" or g.outputs != last.outputs:
        raise ValueError("training needs a classifier whose one output is an int8 softmax")
    _check_chain(g)
    probs, logits = last.outputs[0], last.inputs[0]
    trainable_layers = layers(g)
    if not update.biases and not update.weights:
        raise ValueError("the sparse update trains nothing: give biases or weights")
    train_w = {}
    for i, spec in update.weights.items():
        if not 0 <= i < len(trainable_layers):
            raise ValueError(f"layer {i} does not exist: the model has {len(trainable_layers)} layers with weights")
        op = trainable_layers[i]
        axis = 3 if op.kind == "depthwise_conv2d" else 0
        train_w[id(op)] = _channels(spec, g.tensor(op.inputs[1]).shape[axis])
    with_bias = [op for op in trainable_layers if len(op.inputs) > 2 and op.inputs[2]]
    train_b = {id(op) for op in with_bias[len(with_bias) - update.biases:]} if update.biases else set()
    for op in trainable_layers:
        if id(op) in train_w:
            g.tensor(op.inputs[1]).persist = "trainable"
        if id(op) in train_b:
            g.tensor(op.inputs[2]).persist = "trainable"
    trained = [g.ops.index(op) for op in trainable_layers if id(op) in train_w or id(op) in train_b]
    earliest = min(trained)

    batch = g.tensor(probs).shape[0]
    g.tensors["label"] = Tensor("label", (batch,), "int32")
    g.inputs = [*g.inputs, "label"]
    classes = g.tensor(probs).shape[-1]
    labels = [np.full(batch, i % classes, np.int32) for i in range(len(calibration))]
    samples = [[x, lab] for x, lab in zip(calibration, labels)]

    lr = float(update.learning_rate)
    backward = [Op("softmax_cross_entropy_grad", [probs, "label"], [_grad_tensor(g, logits, 1 / 128)],
                   name="loss gradient")]
    for pos in range(len(g.ops) - 2, earliest - 1, -1):
        op = g.ops[pos]
        gy = _grad_name(op.outputs[0])
        need_dx = pos > earliest
        fwd = {k: op.attrs[k] for k in FORWARD_ATTRS if k in op.attrs}
        where = f"{op.kind} (model op {op.index})"
        if op.kind == "reshape":
            if need_dx:
                gx = _grad_tensor(g, op.inputs[0], g.tensor(gy).quant.s)
                backward.append(Op("reshape", [gy], [gx], name=f"gradient through {where}"))
            continue
        if op.kind == "mean":
            if tuple(op.attrs["reduce"]) != (0, 1, 1, 0) or op.attrs["in_dims"][0] != 1:
                raise ValueError(f"no backward for {where}: only a global average pooling (mean over H and W)")
            if need_dx:
                gx = _grad_tensor(g, op.inputs[0], g.tensor(gy).quant.s / op.attrs["count"])
                backward.append(Op("mean_grad_input", [gy, op.outputs[0]], [gx], name=f"input gradient of {where}"))
            continue
        if op.kind not in LAYERS:
            raise ValueError(f"no backward for {where} yet: the backward covers {', '.join(LAYERS)}, "
                             "global average pooling and reshape")
        x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
        if need_dx:
            gx = _grad_tensor(g, x, 1.0)  # scale calibrated below
            dx = Op(f"{op.kind}_grad_input", [gy, y, w], [gx], dict(fwd), name=f"input gradient of {where}")
            backward.append(dx)
            _calibrate(g, backward, dx, samples)
        if id(op) in train_w:
            r = _residual_tensor(g, w)
            backward.append(Op(f"{op.kind}_update", [gy, y, x, w, r], [w, r],
                               dict(fwd, learning_rate=lr, channels=train_w[id(op)]), name=f"weights of {where}"))
        if id(op) in train_b:
            b = op.inputs[2]
            backward.append(Op("bias_update", [gy, y, b], [b], dict(fwd, learning_rate=lr),
                               name=f"bias of {where}"))
    for k, op in enumerate(backward):
        op.index = len(g.ops) + k
    forward = len(g.ops)
    g.ops = g.ops + backward
    if read_back:
        g.outputs = [probs, *(t.name for t in g.persistent() if t.storage == "trainable")]
    lower(g)
    if masks:
        bits = copy.deepcopy(g)
        if _keep_clamp_bits(bits, forward) and _arena_bytes(lower(bits)) < _arena_bytes(g):
            return bits
    return g


def _arena_bytes(g: Graph) -> int:
    from ..plan.arena import plan_arena

    return plan_arena(g).arena_bytes


# Backward ops whose input 1 is a forward layer's output read only through its clamp (_train.masked).
CLAMP_READERS = frozenset({"conv2d_grad_input", "depthwise_conv2d_grad_input", "fully_connected_grad_input",
                           "mean_grad_input", "bias_update", "conv2d_update", "depthwise_conv2d_update",
                           "fully_connected_update"})
MIN_MASKED_BYTES = 64  # below this the bits save less than the two ops' parameters cost


def _keep_clamp_bits(g: Graph, forward: int) -> bool:
    """Where the backward reads a forward output only through its clamp (no weight update reads it
    as its input, no other op reads it), keep one bit per element (``activation_mask`` right after
    the layer) instead of the output, and turn the bits back into an int8 stand-in
    (``activation_unmask``) just before that layer's backward (a bias step alone reads the bits
    themselves): what is held from the forward to the backward shrinks 8x, the gradients stay
    bit-exact (TinyTL's observation, Cai et al. 2020)."""
    from ..ops.activation_mask import mask_bytes

    root = {}
    for op in g.ops:
        if getattr(ops.get(op.kind), "ALIAS", False):
            root[op.outputs[0]] = root.get(op.inputs[0], op.inputs[0])
    readers: dict[str, list[Op]] = {}
    whole = set()  # forward outputs (by their bytes' root) some backward op reads in full
    for op in g.ops[forward:]:
        for i, name in enumerate(op.inputs):
            if i == 1 and op.kind in CLAMP_READERS:
                readers.setdefault(name, []).append(op)
            elif name:
                whole.add(root.get(name, name))
    produced = {op.outputs[0]: k for k, op in enumerate(g.ops[:forward])}
    masked = []
    for y, ops_of in readers.items():
        t = g.tensor(y)
        acts = {op.attrs.get("activation", "none") for op in ops_of}
        if (y not in produced or y in root or y in whole or y in g.outputs or t.nbytes < MIN_MASKED_BYTES or len(acts) != 1
                or t.dtype != "int8" or t.quant is None or t.quant.per_channel):
            continue
        masked.append((produced[y], y, acts.pop(), ops_of))
    if not masked:
        return False
    after, before = {}, {}
    for pos, y, act, ops_of in masked:
        t, producer = g.tensor(y), g.ops[pos]
        bits, stand_in = f"mask:{y}", f"unmasked:{y}"
        g.tensors[bits] = Tensor(bits, (mask_bytes(t.size),), "uint8")
        where = f"{producer.kind} (model op {producer.index})"
        after[pos] = Op("activation_mask", [y], [bits], dict(activation=act), name=f"clamp bits of {where}")
        if all(op.kind == "bias_update" for op in ops_of):  # it reads the bits themselves
            for op in ops_of:
                op.inputs[1] = bits
            continue
        g.tensors[stand_in] = Tensor(stand_in, t.shape, "int8", copy.deepcopy(t.quant))
        before[id(ops_of[0])] = Op("activation_unmask", [bits], [stand_in], dict(activation=act),
                                   name=f"clamp of {where} from its bits")
        for op in ops_of:
            op.inputs[1] = stand_in
    new = []
    for k, op in enumerate(g.ops):
        if id(op) in before:
            new.append(before[id(op)])
        new.append(op)
        if k in after:
            new.append(after[k])
    index = max(op.index for op in g.ops) + 1
    for k, op in enumerate([*after.values(), *before.values()]):
        op.index = index + k
    g.ops = new
    return True


def potential_name(output: str) -> str:
    """The int64 state tensor that sums the Fisher potentials of the layer whose output this is."""
    return f"potential:{output}"


def selection_graph(graph: Graph, calibration: list[np.ndarray], first: int = 0) -> Graph:
    """TinyTrain's selection pass as one graph (inputs: the model's input and ``label``; outputs:
    the probabilities, then per layer from ``first`` on its Fisher-potential sums, an int64 state
    ``potential:<output>`` that each invoke adds one sample to; ``mf_model_reset()`` zeroes them):
    the forward, the loss gradient and the input gradients down to the output of layer ``first``,
    as :func:`training_graph` builds them (same calibrated gradient scales), with no weight step,
    so every sample sees the pretrained weights. Each ``fisher_potential`` op runs right after the
    gradient of its layer's output exists."""
    # no clamp bits: the Fisher potentials read the layer outputs themselves
    probe = training_graph(graph, SparseUpdate(weights={first: [0]}), calibration, read_back=False, masks=False)
    g = copy.copy(probe)
    g.name = f"{graph.name}_select"
    g.tensors = dict(probe.tensors)
    w = layers(probe)[first].inputs[1]
    g.tensors[w] = copy.copy(probe.tensor(w))
    g.tensors[w].persist = ""
    producers = {op.outputs[0]: op for op in probe.ops}
    added = {}
    for op in layers(probe)[first:]:
        y = op.outputs[0]
        t = probe.tensor(y)
        sums = potential_name(y)
        g.tensors[sums] = Tensor(sums, (int(t.shape[-1]),), "int64", persist="state")
        added[id(producers[_grad_name(y)])] = Op("fisher_potential", [y, _grad_name(y), sums], [sums],
                                                 name=f"Fisher potential of {op.kind} (model op {op.index})")
    g.ops = []
    for op in probe.ops:
        if op.kind.endswith("_update"):
            continue
        g.ops.append(op)
        if id(op) in added:
            g.ops.append(added[id(op)])
    for k, op in enumerate(g.ops[len(graph.ops):]):
        op.index = len(graph.ops) + k
    g.outputs = [probe.outputs[0], *(potential_name(op.outputs[0]) for op in layers(probe)[first:])]
    return lower(g)


def _calibrate(g: Graph, backward: list[Op], dx: Op, samples: list[list[np.ndarray]]) -> None:
    """Set the input gradient's scale of ``dx`` (the last op of ``backward``) from the exact sums
    its kernel reaches on the samples: the largest real magnitude -> 127."""
    from ..reference.executor import run_graph_all

    partial = copy.copy(g)
    partial.ops = g.ops + backward
    partial.outputs = [dx.outputs[0]]
    lower(partial)
    mod = ops.get(dx.kind)
    top = 0
    for sample in samples:
        values = run_graph_all(partial, sample)
        args = [values[n] if n in values else g.tensor(n).data for n in dx.inputs]
        top = max(top, int(np.abs(mod.sums(dx, partial, args)).max(initial=0)))
    s_g = g.tensor(dx.inputs[0]).quant.s
    s_wmax = float(np.max(g.tensor(dx.inputs[2]).quant.scale))
    real = top * 2.0**-16 * s_g * s_wmax
    scale = real / 127 if real > 0 else s_g * s_wmax
    g.tensor(dx.outputs[0]).quant.scale[:] = np.float32(scale)
