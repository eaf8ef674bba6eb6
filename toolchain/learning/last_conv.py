"""Numpy twin of learning below the BNN's head: the head's loss backpropagated through the global
average pool into the folded BNN's last conv (``bconv2d_int8w``: bit-packed +-1 input, int8
weights, folded BatchNorm y = max(0, a_c * acc + b_c) in float32), while the head learns with
one of its seven rules (:class:`~.rules.Head`).

    learner = LastConvLearner(graph, meta, max_classes=16, rule="lwf", budget_ram=32768, protect="lwf")
    learner.add_classes(4)
    learner.train(features, label)      # features: the last conv's input, packed bits
    learner.predict(features)

The design, each choice and why:

- **What trains**: a slice of the last conv's output channels -- their int8 weights, with the
  TinyTrain engine's master copy (int8 + int16 residual, 3 bytes a weight,
  :func:`mcuforge.ops._train.master_step`), and their folded BatchNorm offset b_c (float32, the
  BN shift). The BN scale a_c stays frozen: it multiplies the whole channel, and the master step
  already moves the channel's gain through its weights.
- **Which channels**: the ones the pretrained head reads most (largest column norm of its W; never
  a channel whose BN scale folded to 0, a constant), as many as ``budget_ram`` holds (:func:`plan`);
  a budget that holds none is refused with the numbers.
- **The gradient**: the rule's error on the logits e (p - y, LwF's distillation term included;
  ``TrainResult.error``), taken to the embedding with the head's weights *before* its update
  (g_emb[c] = sum_j W[j, c] e[j], float32, j in order), through the pool (times the pool's
  1/positions, as ``mean_f32`` multiplies) and the ReLU (0 where y <= 0). A 1x1 conv after a
  global pool sees the same gradient gp[c] at every active position, so it is quantized once per
  channel to int8 with a fixed scale ``grad_scale`` (round half up, saturated): q_c. The weight
  sum is then exact integer maths, A[c, k] = q_c * sum over active positions of x[p, k] (x = +-1),
  and the step on the int8 weight is QAS's (Lin et al. 2022) with the folded scale a_c as the
  weight's scale: w + r/2^16 -= A * lr_w * s_g / |a_c| (the sign of a_c folded into A), a Q31
  multiplier and one rounding (``master_step``). The offset steps in float32:
  b_c -= lr_b * (gp[c] * active_c). The step is one op, ``bconv2d_int8w_update`` (its numpy
  reference is this twin's step, its C kernel the board's: :func:`update_graph`).
- **grad_scale**: fixed when the firmware is generated, like every TinyTrain gradient scale: the
  largest |gp| the pretrained head can give, 2 max|W| / positions (|e|_1 <= 2), over 127;
  larger values (rows of new classes grown past the old) saturate.
- **Protecting old classes** (``protect``): ``"lwf"`` -- the head's LwF rule with the frozen
  backbone's embedding as teacher: the flash weights never change, so the board's normal forward
  gives the pre-update embedding for free and only the trained channels are recomputed from the
  RAM copy; ``"replay"`` -- a ring of the last ``replay`` old-class feature maps kept on the board
  (their packed bits and label, :func:`plan` counts the bytes), one replayed step after each
  streamed sample; ``"none"``.
- Only 1x1 stride-1 last convs (what ``train.bnn`` builds) are supported: for them the backward
  needs no input windows and the kept activations are the input bits and the ReLU mask.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph.ir import Graph, Op, Tensor
from ..ops import _train
from ..ops.bconv2d import signs, words
from ..ops.bconv2d_int8w import affine_relu
from ..plan.budget import BudgetError  # a slice that does not fit is refused like a model (exit 3)
from .rules import Head

F32 = np.float32
PROTECTIONS = ("none", "lwf", "replay")
GRAD_LEVELS = 127  # int8 gradient: q in [-128, 127], the scale puts the bound at 127


@dataclass(frozen=True)
class Plan:
    """What learning below the head keeps in RAM, in bytes (all in the static arena)."""
    channels: tuple[int, ...]  # trained output channels of the last conv
    masters: int               # int8 weight + int16 residual per trained weight, float32 offset per channel
    gradients: int             # the int8 gradient per trained channel and the float32 embedding gradient
    activations: int           # kept for the backward: the ReLU mask (1 bit per position and trained channel)
    replay: int                # the replay ring: packed feature bits + a label byte per entry
    replay_entries: int

    @property
    def total(self) -> int:
        return self.masters + self.gradients + self.activations + self.replay


def last_conv_op(graph: Graph) -> Op:
    """The folded BNN's last conv (``bconv2d_int8w``) followed by its ``mean_f32`` pool."""
    kinds = [op.kind for op in graph.ops]
    if kinds[-2:] != ["bconv2d_int8w", "mean_f32"]:
        raise ValueError(f"graph {graph.name!r} does not end in bconv2d_int8w -> mean_f32 (ends {kinds[-2:]})")
    op = graph.ops[-2]
    w = graph.tensor(op.inputs[1])
    if tuple(w.shape[1:3]) != (1, 1) or tuple(op.attrs.get("stride", (1, 1))) != (1, 1):
        raise ValueError(f"last conv {op.name!r} is {w.shape[1]}x{w.shape[2]} stride {op.attrs.get('stride')}; "
                         "learning below the head supports a 1x1 stride-1 last conv")
    return op


def features_graph(graph: Graph) -> Graph:
    """The folded graph cut before its last conv: its output is the last conv's input, the packed
    bits the board streams once and replays (one pass through the front end and binary convs).
    Only the tensors its ops use (the last conv's weights are not in its model C)."""
    op = last_conv_op(graph)
    ops = graph.ops[:-2]
    used = set(graph.inputs) | {n for o in ops for n in o.inputs + o.outputs if n}
    tensors = {n: t for n, t in graph.tensors.items() if n in used}
    return Graph(graph.name + "_features", tensors, ops, list(graph.inputs), [op.inputs[0]], graph.source_hash)


def plan(graph: Graph, head_w, budget_ram: int, replay: int = 0, channels: int | None = None) -> Plan:
    """The trained channel slice that fits ``budget_ram`` bytes with a ``replay``-entry ring: the
    ``channels`` (default: as many as fit) the head reads most. Raises :class:`BudgetError` with
    the numbers when not even one channel fits."""
    op = last_conv_op(graph)
    w = graph.tensor(op.inputs[1])
    x = graph.tensor(op.inputs[0])
    out_c, in_c = w.shape[0], w.shape[3]
    positions = x.shape[1] * x.shape[2]
    feature_bytes = positions * words(in_c) * 4
    ring = replay * (feature_bytes + 1)
    per_channel = in_c * _train.TRAINED_WEIGHT_BYTES + 4 + 1 + 4 + (positions + 7) // 8
    # 4 (offset) + 1 (int8 gradient) + 4 (float32 embedding gradient) + the ReLU mask bits
    if int(budget_ram) <= 0:
        raise BudgetError(f"RAM budget must be a positive number of bytes, got {budget_ram}")
    fit = (int(budget_ram) - ring) // per_channel
    want = out_c if channels is None else int(channels)
    if not 1 <= want <= out_c:
        raise BudgetError(f"channels must be 1..{out_c} (the last conv's outputs), got {channels}")
    if fit < (1 if channels is None else want):
        raise BudgetError(
            f"RAM budget {budget_ram} B does not hold {1 if channels is None else want} trained channel(s) of the last "
            f"conv: {per_channel} B each ({in_c} weights x {_train.TRAINED_WEIGHT_BYTES} B master copy + offset, "
            f"gradient, ReLU mask) plus the replay ring {ring} B ({replay} x {feature_bytes + 1} B)")
    # a channel whose folded BN scale is 0 is a constant (its weights get no gradient): never trained
    live = np.flatnonzero(graph.tensor(op.inputs[2]).data != 0)
    n = min(fit, want, live.size)
    order = live[np.argsort(-np.linalg.norm(np.asarray(head_w, np.float64), axis=0)[live], kind="stable")]
    chans = tuple(sorted(int(c) for c in order[:n]))
    return Plan(chans, n * (in_c * _train.TRAINED_WEIGHT_BYTES + 4), n * 5, n * ((positions + 7) // 8), ring, replay)


def update_graph(graph: Graph, channels, lr_w: float, lr_b: float, grad_scale: float) -> Graph:
    """The one-op graph of the board's step (``bconv2d_int8w_update``) on the trained slice
    ``channels`` of ``graph``'s last conv: inputs the embedding's gradient, the forward output
    and the packed input; trainable filter/residual/offset rows, initialised from the flash."""
    from ..graph.lower import lower

    op = last_conv_op(graph)
    x, w, scale, offset = (graph.tensor(n) for n in op.inputs)
    y = graph.tensor(op.outputs[0])
    chans = list(channels)
    n, in_c = len(chans), w.shape[3]
    t = {
        "grad_embedding": Tensor("grad_embedding", (1, y.shape[3]), "float32"),
        "output": Tensor("output", y.shape, "float32"),
        "input": Tensor("input", x.shape, "uint32"),
        "filter": Tensor("filter", (n, 1, 1, in_c), "int8", data=w.data[chans].astype(np.int8), persist="trainable"),
        "residual": Tensor("residual", (n, 1, 1, in_c), "int16", data=np.zeros((n, 1, 1, in_c), np.int16),
                           persist="trainable"),
        "offset": Tensor("offset", (n,), "float32", data=offset.data[chans].astype(F32), persist="trainable"),
        "scale": Tensor("scale", scale.shape, "float32", data=scale.data.astype(F32)),
    }
    attrs = dict(channels=chans, learning_rate=float(lr_w), offset_learning_rate=float(lr_b), grad_scale=grad_scale)
    step = Op("bconv2d_int8w_update", ["grad_embedding", "output", "input", "filter", "residual", "offset", "scale"],
              ["filter", "residual", "offset"], attrs, index=0, name="last_conv_update")
    g = Graph(graph.name + "_last_conv_update", t, [step], ["grad_embedding", "output", "input"],
              ["filter", "residual", "offset"])
    lower(g)
    return g


def update_step(update: Graph, values) -> list[np.ndarray]:
    """One step of :func:`update_graph`'s op: values = [grad_embedding, output, input, filter,
    residual, offset] -> the new [filter, residual, offset] (the numpy twin of the board's kernel)."""
    from .. import ops

    op = update.ops[0]
    return ops.get(op.kind).reference(op, update, list(values) + [update.tensor("scale").data])


@dataclass(frozen=True)
class BoardSlice:
    """What the learning firmware's ``last_conv`` extension is generated from (``meta["last_conv"]``
    of :func:`board_model`): the last conv's constants, the trained slice and its step."""
    filter: np.ndarray        # [O, C] int8, the flash weights
    scale: np.ndarray         # [O] float32, the folded BN scale a_c
    offset: np.ndarray        # [O] float32, the folded BN offset b_c (the slice's starting point)
    positions: int
    in_c: int
    channels: tuple[int, ...]
    step_multiplier: tuple[int, ...]  # per slice row (bconv2d_int8w_update's prepare)
    step_shift: tuple[int, ...]
    inv_count: float
    inv_grad_scale: float
    offset_lr: float
    teacher: bool             # LwF's teacher is the frozen network's embedding (protect 'lwf')

    @property
    def words(self) -> int:
        return words(self.in_c)


def board_model(learner: "LastConvLearner", model):
    """The learning firmware's model for ``learner``'s slice: the BNN cut before its last conv
    (``features_graph``; output 0 is the packed features), with ``meta["last_conv"]`` telling the
    generator to add the ``last_conv`` extension, which runs the last conv, the pool and the
    slice's step on the board (``firmware/last_conv/``), bit for bit with ``learner``."""
    from ..model.loader import Model

    op = learner.update.ops[0]
    a = op.attrs
    lc = BoardSlice(learner.w_flash.copy(), learner.scale.copy(), learner.offset_flash.copy(), learner.positions,
                    learner.in_c, tuple(int(c) for c in learner.channels),
                    tuple(int(v) for v in a["step_multiplier"]), tuple(int(v) for v in a["step_shift"]),
                    float(a["inv_count"]), float(a["inv_grad_scale"]), float(a["offset_learning_rate"]),
                    learner.protect == "lwf")
    return Model(features_graph(model.graph), meta={**model.meta, "last_conv": lc}, path=model.path)


def render_board_config(lc: BoardSlice) -> str:
    """The text of ``mf_last_conv_config.h`` for ``lc``."""
    from ..codegen.c_literals import c_const_array, c_float

    n = len(lc.channels)
    chans = np.asarray(lc.channels, np.int64)
    return (
        "/* Generated by mcuforge.learning.last_conv.render_board_config: the BNN's last conv\n"
        f" * ({lc.filter.shape[0]} outputs of {lc.in_c} bits at {lc.positions} positions) and its trained slice of\n"
        f" * {n} channels, stepped by bconv2d_int8w_update (learning below the head). */\n"
        "#ifndef MF_LAST_CONV_CONFIG_H\n#define MF_LAST_CONV_CONFIG_H\n\n"
        '#include "mf_const.h"\n\n'
        f"#define MF_LC_OUT_C {lc.filter.shape[0]}\n"
        f"#define MF_LC_IN_C {lc.in_c}\n"
        f"#define MF_LC_WORDS {lc.words} /* 32-bit words per position */\n"
        f"#define MF_LC_POSITIONS {lc.positions}\n"
        f"#define MF_LC_CHANNELS {n}\n"
        f"#define MF_LC_INV_COUNT {c_float(F32(lc.inv_count))} /* float32(1 / positions), as mean_f32 */\n"
        f"#define MF_LC_INV_GRAD_SCALE {c_float(F32(lc.inv_grad_scale))} /* 1 / the int8 gradient's scale */\n"
        f"#define MF_LC_OFFSET_LR {c_float(F32(lc.offset_lr))}\n"
        f"#define MF_LC_DEFAULT_TEACHER {int(lc.teacher)} /* 1: LwF's teacher is the frozen network */\n\n"
        "#ifdef MF_LC_CONFIG_DEFINE_DATA\n"
        "/* flash weights [out_c x in_c] and the folded BatchNorm of every output channel */\n"
        + c_const_array("int8_t", "mf_lc_filter", lc.filter.astype(np.int8), flash=True) + "\n"
        + c_const_array("float", "mf_lc_scale", lc.scale.astype(F32), flash=True) + "\n"
        + c_const_array("float", "mf_lc_offset", lc.offset.astype(F32), flash=True) + "\n"
        "/* the slice: its channels, their scales, and the master step's Q31 multiplier and shift */\n"
        + c_const_array("int16_t", "mf_lc_channels", chans.astype(np.int16), flash=True) + "\n"
        + c_const_array("float", "mf_lc_slice_scale", lc.scale[chans].astype(F32), flash=True) + "\n"
        + c_const_array("int32_t", "mf_lc_step_mult", np.asarray(lc.step_multiplier, np.int32), flash=True) + "\n"
        + c_const_array("int32_t", "mf_lc_step_shift", np.asarray(lc.step_shift, np.int32), flash=True) + "\n"
        "#endif\n\n#endif\n")


class LastConvLearner:
    """The head (a :class:`Head` with ``rule``) plus a trained slice of the last conv (module
    docstring). State: ``head``, ``w``/``r`` (int8 weights and int16 residuals of the trained
    channels), ``offset`` (float32, all channels; only trained ones move)."""

    def __init__(self, graph: Graph, meta: dict, max_classes: int, rule: str = "lwf", lr: float = 0.05,
                 lr_w: float = 0.05, lr_b: float = 0.05, budget_ram: int = 32768, protect: str = "lwf",
                 replay: int = 0, channels: int | None = None, grad_scale: float | None = None, batch: int = 8,
                 train_backbone: bool = True):
        if protect not in PROTECTIONS:
            raise ValueError(f"protect must be one of {', '.join(PROTECTIONS)}, got {protect!r}")
        if protect == "lwf" and rule not in ("lwf", "lwf-batch"):
            raise ValueError(f"protect 'lwf' distils through the head's LwF rule; rule {rule!r} is not lwf/lwf-batch")
        if protect == "replay" and replay < 1:
            raise ValueError("protect 'replay' needs a ring of at least 1 entry (replay >= 1)")
        op = last_conv_op(graph)
        self.op = op
        self.in_c = graph.tensor(op.inputs[1]).shape[3]
        x = graph.tensor(op.inputs[0])
        self.positions = x.shape[1] * x.shape[2]
        self.inv_count = F32(1.0 / self.positions)  # what mean_f32 multiplies by
        self.w_flash = graph.tensor(op.inputs[1]).data.reshape(-1, self.in_c).astype(np.int8)
        self.scale = graph.tensor(op.inputs[2]).data.astype(F32)
        self.offset_flash = graph.tensor(op.inputs[3]).data.astype(F32)
        head_w, head_b = np.asarray(meta["head_W"], F32), np.asarray(meta["head_b"], F32)
        self.plan = plan(graph, head_w, budget_ram, replay if protect == "replay" else 0, channels)
        self.channels = np.array(self.plan.channels)
        self.head = Head(head_w, head_b, max_classes, rule, lr, batch)
        self.protect = protect
        self.train_backbone = train_backbone  # False: the head alone on the frozen embedding (the baseline)
        self.grad_scale = F32(grad_scale if grad_scale is not None else
                              2.0 * float(np.abs(head_w).max()) / self.positions / GRAD_LEVELS)
        self.update = update_graph(graph, self.plan.channels, lr_w, lr_b, float(self.grad_scale))
        self.ring: list[tuple[np.ndarray, int]] = []
        self.reset()

    def reset(self) -> None:
        self.head.reset()
        self.w = self.w_flash[self.channels].copy()[:, None, None, :]  # [n, 1, 1, C], the update's layout
        self.r = np.zeros(self.w.shape, np.int16)
        self.offset = self.offset_flash.copy()
        self.ring = []

    def add_classes(self, n: int) -> None:
        for _ in range(n):
            self.head.add_class()

    # ---- forward -----------------------------------------------------------------------
    def _signs(self, features) -> np.ndarray:
        f = np.asarray(features, np.uint32).reshape(self.positions, words(self.in_c))
        return signs(f, self.in_c)  # [P, C] int64 +-1

    def conv(self, xs: np.ndarray, trained: bool = True) -> np.ndarray:
        """y [P, O] float32: the flash weights everywhere, the RAM copy on trained channels."""
        acc = xs @ self.w_flash.T.astype(np.int64)
        offset = self.offset_flash
        if trained:
            acc[:, self.channels] = xs @ self.w.reshape(len(self.channels), -1).T.astype(np.int64)
            offset = self.offset
        return affine_relu(acc, self.scale, offset, True)

    def pool(self, y: np.ndarray) -> np.ndarray:
        total = np.zeros(y.shape[1], F32)
        for p in range(y.shape[0]):  # mean_f32's sequential order
            total = (total + y[p]).astype(F32)
        return (total * self.inv_count).astype(F32)

    def embedding(self, features, trained: bool = True) -> np.ndarray:
        return self.pool(self.conv(self._signs(features), trained))

    def predict(self, features) -> int:
        return self.head.predict(self.embedding(features))[0]

    # ---- learning ----------------------------------------------------------------------
    def train(self, features, label: int) -> None:
        """One streamed sample, then (protect 'replay') one step on a kept old-class sample."""
        self._step(features, label)
        if self.protect != "replay":
            return
        if label < self.head.state.pretrained:
            self.ring.append((np.asarray(features, np.uint32).copy(), int(label)))
            del self.ring[:-self.plan.replay_entries]
        if self.ring:
            f, y = self.ring[self.head.state.total_samples % len(self.ring)]
            self._step(f, y)

    def step_inputs(self, features, label: int) -> list[np.ndarray]:
        """The head's part of one sample (its rule's update, in place) and the inputs of the
        backbone's step: [grad_embedding (1, O), output (the forward's y), input (the features)].
        g_emb = W^T e with the head's weights before its update, classes in order (float32)."""
        xs = self._signs(features)
        y = self.conv(xs)
        teacher = self.pool(self.conv(xs, trained=False)) if self.protect == "lwf" else None
        s = self.head.state
        w_before = s.w[: s.classes].copy()
        e = self.head.train(self.pool(y), label, teacher=teacher).error
        g = np.zeros(w_before.shape[1], F32)
        for j in range(s.classes):
            g = (g + w_before[j] * e[j]).astype(F32)
        return [g.reshape(1, -1), y.reshape(self.update.tensor("output").shape),
                np.asarray(features, np.uint32).reshape(self.update.tensor("input").shape)]

    def _step(self, features, label: int) -> None:
        inputs = self.step_inputs(features, label)
        if self.train_backbone:
            self.w, self.r, self.offset[self.channels] = update_step(
                self.update, inputs + [self.w, self.r, self.offset[self.channels]])
