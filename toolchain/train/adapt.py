"""Few-shot adaptation of an int8 classifier on the board: ``mcuforge adapt``'s library side.

A task is N classes with K labelled support samples each and held-out query samples. For every
task the board starts from the pretrained weights (a fresh boot of the training firmware), the
support set is streamed over the link, one training step per sample and epoch, and the query set
is then run on the board with what it learned. Class k of the task is output k of the model's
softmax (the first N outputs are the task's; the prediction is the largest of them).

Methods (what trains; the training graph is :func:`mcuforge.graph.backward.training_graph`):

- ``none``: nothing trains. The board computes the pretrained features (the input of the last
  layer) of the support and query samples; the host fits class prototypes (the mean feature per
  class) and gives each query the nearest prototype's class.
Every method that trains starts (by default, ``head="prototypes"``) from what ``none`` knows: the
new classes' rows of the last layer are imprinted from the support set's class prototypes, their
features computed on the board as for ``none`` (:mod:`mcuforge.train.imprint`, the one writer of
the prototypes), so training begins at the prototype classifier instead of the outputs of
pretrained classes (``head="pretrained"``).

- ``last-layer``: the weights and bias of the last layer.
- ``bias``: the bias of every layer (TinyTL-style).
- ``sparse-update``: Lin et al. 2022's static scheme, chosen once, offline, by contribution
  analysis (:mod:`mcuforge.train.contribution`: the last layer plus the biases of the last k
  layers and a ratio of the weights of some layers, maximising the gains measured on the host's
  numpy twin under ``budget_ram`` and ``budget_macs``): the analysis trains on the first half of
  the first task's shots and scores on the rest; every task then trains that scheme on the board
  (``contribution`` reports the gains).
- ``tinytrain``: TinyTrain's task-adaptive choice (:mod:`mcuforge.train.tinytrain`: Fisher
  potentials from one forward/backward over the support set, layer scores, top channels under the
  budgets) plus the biases of the layers from the earliest one chosen. The potentials are
  computed and the choice made **on the board**: a selection firmware
  (:func:`mcuforge.train.tinytrain.choice_graph`) runs the support set once, sums each channel's
  potential in int64 state (exact integers, equal to the numpy twin's) and chooses layers and
  channels under the budgets (``tinytrain_select``); the host reads both back, and checks the
  choice against its own from the same sums (``selection_host_agrees``). Only the layers a selection under ``budget_ram`` can reach are measured
  (:func:`mcuforge.train.tinytrain.first_candidate`). ``selection`` holds its cost per task.
- ``full``: every weight and bias, on the board; where its firmware does not fit the board, on the
  host's numpy twin of the same integer training graph (bit-exact with what the board would
  compute), the query set still on the board: ``trained_on`` says which, memory is then the arena
  plan's (not measured) and there are no counts per step.

What the board learned is read back after every training step (the trainable tensors are outputs
of the training graph): a checkpoint (:mod:`mcuforge.train.checkpoint`), stored in the results
database with ``store``; a board lost during training (a killed QEMU, a reset) is restored from
the last one and goes on from the next step (``recoveries`` counts them).

``board`` :data:`HOST` runs every pass (features, selection, training, query) on the host's numpy
twin instead, the same maths bit-exact with the board's, for sweeping settings over many tasks
without QEMU: memory is then the arena plan's and there are no counts.

Measured per task, on the board: query accuracy; the training firmware's arena (activations kept
for the backward, gradients, trainable copies) plus its stack high-water: ``train_memory_bytes``;
counts per training step (one forward and backward of one sample) in the board's cycles kind.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..flash import FlashError
from ..graph.backward import SparseUpdate, layers, training_graph
from ..graph.ir import Graph
from ..link import LinkError
from ..link.errors import DeviceFault, DeviceOverflow, FirmwareMismatch, ProtocolError
from ..model.errors import ModelError
from ..plan.budget import BudgetError
from . import checkpoint as ckpt
from .imprint import ImprintError, feature_graph, host_features, imprinted, prototypes, real_features

HOST = "host"  # adapt's board for a host-only sweep: every pass on the numpy twin (bit-exact), nothing measured
METHODS = ("none", "last-layer", "bias", "sparse-update", "tinytrain", "full")
HEADS = {  # where the trained methods' new classifier rows start
    "prototypes": "the new classes' rows imprinted from the support set's class prototypes (board features, as none)",
    "pretrained": "the pretrained rows of the first N outputs",
}
SELECTION = {
    "none": "none (prototypes fit on the host from board features)",
    "last-layer": "fixed", "bias": "fixed", "full": "fixed",
    "sparse-update": "offline, static (contribution analysis on the host's numpy twin, on the first task's shots)",
    "tinytrain": "board (a selection pass on the board sums the Fisher potentials and chooses layers and "
                 "channels under the budgets)",
}


@dataclass
class Task:
    support: list[tuple[np.ndarray, int]]  # (model input, class 0..N-1)
    query: list[tuple[np.ndarray, int]]


class AdaptError(UsageError):
    """Bad arguments or data for adapt: the method, classes, shots, the features config (exit 2)."""


class MethodUnsupported(ModelError):
    """A method the backward cannot run on this model yet, with the reason (exit 3)."""


def check_method(method: str) -> str:
    if method not in METHODS:
        raise AdaptError(f"unknown method {method!r}: one of {', '.join(METHODS)}")
    return method


# ---------------------------------------------------------------- what trains


def _biased(graph: Graph) -> list[int]:
    """Layer numbers (SparseUpdate's) of the layers with a bias."""
    return [i for i, op in enumerate(layers(graph)) if len(op.inputs) > 2 and op.inputs[2]]


def _out_channels(graph: Graph, op) -> int:
    return int(graph.tensor(op.outputs[0]).shape[-1])


def _biases_from(graph: Graph, earliest: int) -> int:
    """SparseUpdate.biases that trains the bias of every layer from ``earliest`` on (their
    gradients exist anyway once a layer at or before them trains)."""
    return sum(1 for i in _biased(graph) if i >= earliest)


def sparse_scheme(graph: Graph, support, budget_ram: int, budget_macs: int, learning_rate: float, epochs: int,
                  head: str = "prototypes"):
    """Lin et al.'s contribution analysis on one task's support set (half to train, half held out;
    with ``head`` "prototypes", from a head imprinted with the training half's prototypes, its
    features on the host's numpy twin)."""
    from .contribution import analyse, split_support
    from .tinytrain import fisher_potentials, first_candidate

    classes = 1 + max(y for _, y in support)
    try:
        train, held = split_support(support, classes)
        if head == "prototypes":
            feats = host_features(feature_graph(graph), [x for x, _ in train])
            graph = imprinted(graph, prototypes(feats, [y for _, y in train], classes), feats)
        stats = fisher_potentials(graph, support, first_candidate(graph, budget_ram))
        return analyse(graph, stats, train, held, classes, budget_ram, budget_macs, epochs=epochs,
                       learning_rate=learning_rate)
    except ValueError as exc:
        raise AdaptError(f"method sparse-update: {exc}") from None


def plan_update(method: str, graph: Graph, support, budget_ram: int, budget_macs: int,
                learning_rate: float, stats=None, scheme=None, board_choice=None) -> tuple[SparseUpdate, list[dict]]:
    """The SparseUpdate of ``method`` and, for the selecting methods, what was chosen
    ([{"layer", "kind", "channels", "of"}]). ``stats``: the layers' potentials as measured
    (:func:`select_on_board`); without them they are computed on the host's numpy twin.
    ``scheme``: sparse-update's contribution analysis (:func:`sparse_scheme`). ``board_choice``:
    tinytrain's {layer: channels} as the board chose them (else the host's :func:`select`)."""
    from .tinytrain import fisher_potentials, first_candidate, select

    net = layers(graph)
    last = len(net) - 1
    if method == "last-layer":
        return SparseUpdate(biases=1 if last in _biased(graph) else 0, weights={last: 1.0},
                            learning_rate=learning_rate), []
    if method == "bias":
        if not _biased(graph):
            raise AdaptError("method bias: the model's layers have no biases")
        return SparseUpdate(biases=len(_biased(graph)), learning_rate=learning_rate), []
    if method == "full":
        return SparseUpdate(biases=len(_biased(graph)), weights={i: 1.0 for i in range(len(net))},
                            learning_rate=learning_rate), []
    if method == "sparse-update":
        scheme = scheme or sparse_scheme(graph, support, budget_ram, budget_macs, learning_rate, epochs=2)
        ws = layers(graph)
        chosen = [dict(layer=i, kind=ws[i].kind, channels=math.ceil(r * _out_channels(graph, ws[i])),
                       of=_out_channels(graph, ws[i])) for i, r in sorted(scheme.update.weights.items(), reverse=True)]
        return scheme.update, chosen
    if stats is None:
        try:
            first = first_candidate(graph, budget_ram)
        except ValueError as exc:
            raise AdaptError(f"method {method}: {exc}") from None
        try:
            stats = fisher_potentials(graph, support, first)
        except ValueError as exc:
            raise MethodUnsupported(f"method {method} cannot train {graph.name} yet: {exc}") from None
    try:
        sel = select(stats, budget_ram, budget_macs, learning_rate=learning_rate, activations=True)
    except ValueError as exc:  # nothing fits the budgets
        raise AdaptError(f"method {method}: {exc}") from None
    weights = sel.update.weights if board_choice is None else board_choice
    if not weights:
        raise AdaptError(f"method {method}: the board chose nothing under the budgets")
    update = SparseUpdate(biases=_biases_from(graph, min(weights)), weights=weights, learning_rate=learning_rate)
    order = [i for i, _ in sel.chosen if i in weights] + sorted(set(weights) - {i for i, _ in sel.chosen})
    chosen = [dict(layer=i, kind=stats[i].kind, channels=len(weights[i]), of=stats[i].channels) for i in order]
    return update, chosen


# ---------------------------------------------------------------- on the board


def _cycles_kind(target) -> str:
    return target.cycles_kind.replace("-", " ")  # "emulated instructions", "simulated cycles", "hardware"


METRICS = ("accuracy", "accuracy_std", "train_memory_bytes", "arena_bytes", "trainable_bytes",
           "stack_high_water_bytes", "macs_per_step", "cycles_per_step", "selection_cycles",
           "selection_memory_bytes")


def start(store, graph: Graph, board: str, method: str, classes: list[str]) -> int:
    """The results-database run of an adapt (status running until :func:`record`)."""
    return store.start_run("adapt", model_name=graph.name, model_hash=(graph.source_hash or "")[:16] or None,
                           board=board, summary=dict(method=method, classes=list(classes)))


def record(store, rid: int, result: dict) -> int:
    """Finish run ``rid`` with an adapt summary: its metrics, one sample row per query (task,
    label, predicted) and the summary; returns the run id."""
    summary = {k: v for k, v in result.items() if k != "per_task"}
    if result["cycles_per_step"] is not None:  # a host-only run has no counts, so no cycles kind
        store.update_run(rid, cycles_kind=result["cycles_kind"].replace(" ", "-"))
    store.add_metrics(rid, {k: result[k] for k in METRICS if result.get(k) is not None})
    store.add_samples(rid, [dict(index=len(task["predictions"]) * t + i, label=int(y), predicted=int(p), task=t)
                            for t, task in enumerate(result["per_task"])
                            for i, (p, y) in enumerate(zip(task["predictions"], task["labels"]))])
    store.finish_run(rid, "ok", summary=summary)
    return rid


def _predict(probs: np.ndarray, classes: int) -> int:
    return int(np.argmax(np.asarray(probs).reshape(-1)[:classes]))


def _memory(target) -> dict:
    guards = target.link.hello(refresh=True)  # the stack high-water after the runs (mf_guard.c)
    plan = target.project.plan
    arena, stack = int(plan.arena_bytes), int(guards.stack_high_water)
    trainable = sum(t.nbytes for t in target.project.graph.persistent() if t.storage == "trainable")
    return dict(arena_bytes=arena, trainable_bytes=int(trainable),
                stack_high_water_bytes=stack, train_memory_bytes=arena + stack)


def select_on_board(graph: Graph, support, board: str, budget_ram: int, budget_macs: int, workdir: Path, step):
    """TinyTrain's choice made on the board: the selection firmware runs every support sample once
    (from the pretrained weights), sums the Fisher potentials in int64 state and chooses layers and
    channels under the budgets (:func:`mcuforge.train.tinytrain.choice_graph`); the host reads the
    sums and the choice -> (layer stats from the board's sums, {"first_layer", "cycles",
    "memory_bytes", "sums", "choice": {layer: channels}})."""
    from ..target import open_target
    from .tinytrain import choice_graph, chosen_channels, first_candidate, layer_stats

    try:
        first = first_candidate(graph, budget_ram)
    except ValueError as exc:
        raise AdaptError(f"method tinytrain: {exc}") from None
    try:
        sel = choice_graph(graph, [x for x, _ in support], first, budget_ram, budget_macs)
    except ValueError as exc:
        raise MethodUnsupported(f"method tinytrain cannot train {graph.name} yet: {exc}") from None
    cycles = 0
    try:
        with open_target(sel, board, workdir=workdir / "select", progress=step) as target:
            step(f"select: Fisher potentials of {len(support)} support samples on the board")
            for x, label in support:
                got, cyc = target.run([x, np.array([label], np.int32)])
                cycles += cyc
            memory = _memory(target)
    except BudgetError as exc:
        raise MethodUnsupported(f"method tinytrain: its selection firmware (the backward from layer {first} on) "
                                f"does not fit {board} ({exc}): give a smaller --budget-ram") from None
    sums = [np.asarray(v, np.int64).reshape(-1) for v in got[1:-1]]
    stats = layer_stats(sel, sums, len(support), first)
    cost = dict(first_layer=first, cycles=int(cycles), memory_bytes=memory["train_memory_bytes"],
                sums=[s.tolist() for s in sums], choice=chosen_channels(stats, first, got[-1]))
    return stats, cost


RECOVERABLE = (LinkError, FlashError, OSError)
NOT_RECOVERABLE = (DeviceFault, DeviceOverflow, FirmwareMismatch, ProtocolError)  # the same again on a new board
MAX_RECOVERIES = 3  # board losses in a row without a new step before giving up


def _train_steps(tg: Graph, samples, order: list[int], board: str, workdir: Path, step, on_step) -> dict:
    """Run the training steps of ``order`` (indices into ``samples``) on the board. Every step's
    reply carries the trained tensors (the checkpoint, handed to ``on_step(target, steps_done,
    tensors)``); a board lost on
    the way (a killed QEMU, a reset) is opened again with a firmware restored from the last
    checkpoint (:func:`mcuforge.train.checkpoint.restored`) and goes on from the next step, so
    no step is lost or taken twice."""
    from ..target import open_target

    state, done, cycles, recoveries, streak = ckpt.trainable(tg), 0, [], 0, 0
    while True:
        graph = tg if done == 0 else ckpt.restored(tg, state)
        try:
            with open_target(graph, board, workdir=workdir / ("train" if not recoveries else f"train-r{recoveries}"),
                             progress=step) as target:
                step(f"train: steps {done + 1}..{len(order)} of {len(order)}")
                for k in range(done, len(order)):
                    x, label = samples[order[k]]
                    got, cyc = target.run([x, np.array([label], np.int32)])
                    state, done, streak = ckpt.read_back(tg, got), k + 1, 0
                    cycles.append(cyc)
                    on_step(target, done, state)
                memory = _memory(target)  # (a restored board ran the same steps' code: same stack)
                return dict(trained=state, cycles=cycles, recoveries=recoveries, cycles_kind=_cycles_kind(target),
                            macs_per_step=int(target.project.macs), **memory)
        except NOT_RECOVERABLE:
            raise
        except RECOVERABLE as exc:
            streak += 1
            if streak > MAX_RECOVERIES:
                raise
            recoveries += 1
            step(f"board lost ({exc}); restoring the checkpoint of step {done}")


def _train_on_host(tg: Graph, samples, order: list[int], step, on_step) -> dict:
    """The training steps on the host's numpy twin of the training graph (the same integer maths
    the board runs, bit-exact): for ``full`` where its firmware does not fit the board. Memory is
    the arena plan's (what the board would need; not measured), there are no counts."""
    from .. import ops
    from ..plan.arena import plan_arena
    from ..reference.executor import initial_state, run_graph

    step(f"train on the host (numpy twin): {len(order)} steps")
    state = initial_state(tg)
    names = list(ckpt.trainable(tg))
    for k, i in enumerate(order):
        x, label = samples[i]
        run_graph(tg, [x, np.array([label], np.int32)], state)
        on_step(None, k + 1, {n: state[n] for n in names})
    arena = int(plan_arena(tg).arena_bytes)
    return dict(trained={n: state[n] for n in names}, cycles=[], recoveries=0, cycles_kind=None,
                macs_per_step=int(sum(ops.get(op.kind).macs(op, tg) for op in tg.ops)), arena_bytes=arena,
                trainable_bytes=int(sum(v.nbytes for v in state.values())), stack_high_water_bytes=0,
                train_memory_bytes=arena)


def trained_model(graph: Graph, trained: dict) -> Graph:
    """``graph`` (the inference graph) with the trained weights and biases of ``trained`` (the
    training graph's trainable tensors; the residuals of the master copies are training state,
    the forward reads the int8 weights)."""
    g = copy.deepcopy(graph)
    g.source_hash = ""  # its own weights: hashed from its C
    for name, value in trained.items():
        if name in g.tensors:
            g.tensor(name).data = value
    return g


def training_samples(graph: Graph, task: Task, epochs: int, rng, augment: int = 0) -> tuple[list, list[int]]:
    """The training steps of a task: (samples, order), step k trains on ``samples[order[k]]``.
    Every epoch takes each support clip once in a random order; with ``augment`` views, each epoch
    also takes that many fresh augmented views of each clip (:data:`AUGMENTATION`), shuffled in
    with them (samples: the support set, then the views)."""
    n = len(task.support)
    if not augment:
        return task.support, [int(i) for _ in range(epochs) for i in rng.permutation(n)]
    from ..data.augment import int8_views

    q = graph.tensor(graph.inputs[0]).quant
    samples, order = list(task.support), []
    for _ in range(epochs):
        views = [(v, y) for x, y in task.support for v in int8_views(x, q.s, q.zp, augment, rng, **AUGMENTATION)]
        idx = list(range(n)) + list(range(len(samples), len(samples) + len(views)))
        samples += views
        order += [idx[int(i)] for i in rng.permutation(len(idx))]
    return samples, order


def _train_task(graph: Graph, tg: Graph, task: Task, classes: int, board: str, epochs: int, workdir: Path, rng,
                step, on_step, host_fallback: bool = False, augment: int = 0) -> dict:
    """Train ``tg`` (the training graph of ``graph``) on the board over the support set and, with
    ``augment``, its augmented views (with ``host_fallback``, on the host's numpy twin where its
    firmware does not fit: ``trained_on``); run the query set on ``graph`` with the weights the
    board trained."""
    from ..target import open_target

    samples, order = training_samples(graph, task, epochs, rng, augment)
    try:
        if board == HOST:
            r = dict(_train_on_host(tg, samples, order, step, on_step),
                     trained_on="host (numpy twin; a host-only sweep)")
        else:
            r = dict(_train_steps(tg, samples, order, board, workdir, step, on_step), trained_on="board")
    except BudgetError as exc:
        if not host_fallback:
            raise
        r = dict(_train_on_host(tg, samples, order, step, on_step),
                 trained_on=f"host (numpy twin of the board's integer training graph; its firmware does not fit "
                            f"{board}: {exc}; memory planned, not measured)")
    cycles = r.pop("cycles")
    evaluated = trained_model(graph, r["trained"])
    if board == HOST:
        from ..reference.executor import run_graph

        preds = [_predict(run_graph(evaluated, [x])[0], classes) for x, _ in task.query]
        return dict(accuracy=_accuracy(preds, task.query), cycles_per_step=None, order=order,
                    labels=[y for _, y in task.query], predictions=preds, **r)
    with open_target(evaluated, board, workdir=workdir / "eval", progress=step) as target:
        step(f"query: {len(task.query)} samples")
        preds = [_predict(target.run([x])[0][0], classes) for x, _ in task.query]
        r["cycles_kind"] = r["cycles_kind"] or _cycles_kind(target)
    return dict(accuracy=_accuracy(preds, task.query), cycles_per_step=float(np.mean(cycles)) if cycles else None,
                order=order, labels=[y for _, y in task.query], predictions=preds, **r)


def _board_features(fg: Graph, xs, board: str, workdir: Path, step) -> dict:
    """The features of model inputs ``xs`` computed on the board (``fg``: :func:`feature_graph`),
    with the counts and memory of that pass."""
    from ..target import open_target

    if board == HOST:
        from .. import ops
        from ..plan.arena import plan_arena

        arena = int(plan_arena(fg).arena_bytes)
        return dict(features=host_features(fg, xs), cycles=[], cycles_kind=None,
                    macs=int(sum(ops.get(op.kind).macs(op, fg) for op in fg.ops)), arena_bytes=arena,
                    trainable_bytes=0, stack_high_water_bytes=0, train_memory_bytes=arena)
    with open_target(fg, board, workdir=workdir / "features", progress=step) as target:
        step(f"features of {len(xs)} samples on the board")
        feats, cycles = [], []
        for x in xs:
            out, cyc = target.run([x])
            feats.append(real_features(fg, out[0]))
            cycles.append(cyc)
        return dict(features=feats, cycles=cycles, cycles_kind=_cycles_kind(target), macs=int(target.project.macs),
                    **_memory(target))


def _feature_graph(graph: Graph, method: str) -> Graph:
    try:
        return feature_graph(graph)
    except ImprintError as exc:
        raise AdaptError(f"method {method}: {exc}") from None


def _prototypes_task(graph: Graph, task: Task, classes: int, board: str, workdir: Path, step) -> dict:
    n = len(task.support)
    f = _board_features(_feature_graph(graph, "none"), [x for x, _ in task.support + task.query], board, workdir, step)
    feats, cycles = f.pop("features"), f.pop("cycles")
    protos = prototypes(feats[:n], [y for _, y in task.support], classes)
    preds = [int(np.argmin(((protos - q) ** 2).sum(axis=1))) for q in feats[n:]]
    return dict(accuracy=_accuracy(preds, task.query), cycles_per_step=float(np.mean(cycles[:n])) if cycles else None,
                macs_per_step=f.pop("macs"), labels=[y for _, y in task.query], predictions=preds, prototypes=protos,
                **f)


def head_from_prototypes(graph: Graph, task: Task, classes: int, board: str, workdir: Path, step, method: str):
    """``graph`` with its new classes' rows imprinted from the support set's class prototypes, the
    features computed on the board as for ``none`` (:mod:`mcuforge.train.imprint`) -> (graph,
    {"cycles" of that feature pass})."""
    f = _board_features(_feature_graph(graph, method), [x for x, _ in task.support], board, workdir, step)
    protos = prototypes(f["features"], [y for _, y in task.support], classes)
    try:
        return imprinted(graph, protos, f["features"]), dict(cycles=int(sum(f["cycles"])))
    except ImprintError as exc:
        raise MethodUnsupported(f"method {method} cannot start from class prototypes on {graph.name}: {exc}") from None


def _accuracy(preds, query) -> float:
    return float(np.mean([p == y for p, (_, y) in zip(preds, query)]))


# ---------------------------------------------------------------- the verb


def _describe(update: SparseUpdate) -> str:
    def share(v) -> str:
        if not isinstance(v, float):
            return f"{len(v)} channels"
        return "all channels" if v == 1.0 else f"{v:.0%} of its channels"

    weights = ", ".join(f"layer {i} ({share(v)})" for i, v in sorted(update.weights.items()))
    parts = ([f"the weights of {weights}"] if weights else []) + ([f"the biases of the last {update.biases} layers"]
                                                                 if update.biases else [])
    return " and ".join(parts)


def check_model(graph: Graph, classes: int) -> int:
    """The model's number of outputs, checked against the task's classes."""
    if not graph.ops or graph.ops[-1].kind != "softmax" or len(graph.outputs) != 1:
        raise AdaptError("adapt needs a classifier whose one output is an int8 softmax")
    outputs = int(graph.tensor(graph.outputs[0]).shape[-1])
    if not 1 < classes <= outputs:
        raise AdaptError(f"a task of {classes} classes needs 2..{outputs} (the model's outputs)")
    return outputs


# Each method's default learning rate: what `bench.adapt --lr auto` chose on validation tasks for a
# DS-CNN keyword spotter (README, TinyTrain): stepping every layer (full) needs a far smaller rate than
# the head; at 0.01 full and bias were at chance. ``mcuforge adapt --lr auto`` chooses per model.
DEFAULT_LEARNING_RATES = {"last-layer": 0.003, "bias": 0.003, "sparse-update": 0.003, "tinytrain": 0.003,
                          "full": 0.0003}


# The views ``adapt(augment=N)`` trains on besides each support clip: a time shift of up to 80 ms,
# speed within 10 %, one mask of up to 8 mel bands and one of up to 10 frames (the BNN lever
# ``word-classes+augment``'s settings, bench.bnn_levers), drawn afresh every epoch.
AUGMENTATION = dict(max_shift=8, speed=0.1, freq_mask=8, time_mask=10)


def default_learning_rate(method: str) -> float | None:
    """The rate ``adapt`` uses for ``method`` when none is given (None for ``none``: nothing trains)."""
    return DEFAULT_LEARNING_RATES.get(method)


def adapt(model, tasks: list[Task], classes: list[str], board: str = "netduinoplus2", method: str = "tinytrain",
          epochs: int = 3, budget_ram: int = 16384, budget_macs: int | None = None, learning_rate: float | None = None,
          workdir=None, seed: int = 0, progress=None, store=None, after_step=None, head: str = "prototypes",
          rate_selection: dict | None = None, augment: int = 0) -> dict:
    """Run ``method`` on every task on ``board``; the summary ``mcuforge adapt --json`` writes
    (with ``store``, also recorded there: ``run_id``, with a checkpoint of the trained tensors
    after every training step, :mod:`mcuforge.train.checkpoint`). ``budget_macs`` defaults to
    the model's forward MACs (a step's backward within one forward's work). ``progress``: a
    callable taking one line (None: quiet). ``after_step(target, task, steps_done)``: called
    after every training step (tests lose the board there). ``head``: where the trained methods'
    new rows start (:data:`HEADS`). ``learning_rate``: None takes :data:`DEFAULT_LEARNING_RATES`;
    ``rate_selection``: how it was chosen (:func:`mcuforge.train.adapt_lr.choose_learning_rate`),
    kept in the summary as ``learning_rate_selection`` and so recorded with the run. ``augment``:
    augmented views of each support clip trained on per epoch, besides the clip
    (:func:`training_samples`; the prototypes stay the clips' own)."""
    import tempfile

    from ..model.loader import load

    check_method(method)
    if learning_rate is None:
        learning_rate = default_learning_rate(method) or 0.0  # none trains nothing
    if head not in HEADS:
        raise AdaptError(f"unknown head {head!r}: one of {', '.join(HEADS)}")
    if isinstance(augment, bool) or not isinstance(augment, int) or augment < 0:
        raise AdaptError(f"augment {augment!r}: give a number of views >= 0")
    graph = load(model).graph
    check_model(graph, len(classes))
    if augment:  # refused before any board work, not at the first task's training
        from ..data.augment import frames_mels

        try:
            frames_mels(graph.tensor(graph.inputs[0]).shape)
        except ValueError as exc:
            raise AdaptError(f"augment: {exc}") from None
    if not tasks:
        raise AdaptError("no tasks")
    if budget_macs is None:
        from .. import ops

        budget_macs = sum(int(ops.get(op.kind).macs(op, graph)) for op in graph.ops)
    step = progress or (lambda msg: None)
    tmp = tempfile.TemporaryDirectory(prefix="mcuforge-adapt-") if workdir is None else None
    root = Path(workdir or tmp.name)
    rng = np.random.default_rng(seed)
    rows, chosen = [], []
    rid = start(store, graph, board, method, classes) if store is not None else None
    scheme = None
    try:
        if method == "sparse-update":
            step("sparse-update: contribution analysis on the host (numpy twin), first task's shots")
            scheme = sparse_scheme(graph, tasks[0].support, budget_ram, budget_macs, learning_rate, epochs, head)
        for k, task in enumerate(tasks):
            def on_step(target, done, tensors, k=k):
                if rid is not None:
                    ckpt.save(store, rid, tensors, task=k, step=done)
                if after_step is not None:
                    after_step(target, k, done)

            step(f"task {k + 1}/{len(tasks)}: {method}")
            wd = root / f"task{k}"
            if method == "none":
                row = _prototypes_task(graph, task, len(classes), board, wd, step)
            else:
                stats = cost = init = None
                start_graph = graph
                if head == "prototypes":
                    start_graph, init = head_from_prototypes(graph, task, len(classes), board, wd, step, method)
                if method == "tinytrain" and board != HOST:  # on the host: plan_update's own potentials
                    stats, cost = select_on_board(start_graph, task.support, board, budget_ram, budget_macs, wd, step)
                update, picked = plan_update(method, start_graph, task.support, budget_ram, budget_macs, learning_rate,
                                             stats, scheme, cost and cost["choice"])
                if cost is not None:  # the host's choice from the same sums, for the record
                    host, _ = plan_update(method, start_graph, task.support, budget_ram, budget_macs, learning_rate,
                                          stats)
                    cost["host_agrees"] = host.weights == update.weights
                try:
                    tg = training_graph(start_graph, update, [x for x, _ in task.support])
                except ValueError as exc:
                    raise MethodUnsupported(f"method {method} cannot train {graph.name} yet: {exc}") from None
                try:
                    row = _train_task(start_graph, tg, task, len(classes), board, epochs, wd, rng, step, on_step,
                                      host_fallback=method == "full", augment=augment)
                except BudgetError as exc:
                    raise MethodUnsupported(
                        f"method {method} trains {_describe(update)}: its training firmware does not fit {board} "
                        f"({exc}). The backward keeps, for every layer after the earliest one trained, its output "
                        "(as clamp bits where that is all it reads) and gradient: give a smaller --budget-ram, "
                        "train fewer layers or use a smaller model") from None
                if init is not None:
                    row["head_init"] = init
                row["update"] = dict(biases=update.biases, weights={int(i): (v if isinstance(v, float) else len(v))
                                                                    for i, v in update.weights.items()})
                chosen.append(picked)
                if cost is not None:
                    row["selection"] = cost
            rows.append(row)
    except BaseException as exc:
        if rid is not None:
            store.finish_run(rid, "failed" if isinstance(exc, Exception) else "interrupted",
                             summary=dict(method=method, error=f"{type(exc).__name__}: {exc}"[:500]))
        raise
    finally:
        if tmp is not None:
            tmp.cleanup()
    acc = np.array([r["accuracy"] for r in rows])
    out = dict(
        method=method, board=board, classes=list(classes), shots=len(tasks[0].support) // len(classes),
        queries=len(tasks[0].query) // len(classes), tasks=len(tasks), epochs=0 if method == "none" else epochs,
        accuracy=float(acc.mean()), accuracy_std=float(acc.std()), accuracies=acc.tolist(),
        train_memory_bytes=max(r["train_memory_bytes"] for r in rows),
        arena_bytes=max(r["arena_bytes"] for r in rows), trainable_bytes=max(r["trainable_bytes"] for r in rows),
        stack_high_water_bytes=max(r["stack_high_water_bytes"] for r in rows),
        macs_per_step=float(np.mean([r["macs_per_step"] for r in rows])),
        cycles_per_step=(float(np.mean([r["cycles_per_step"] for r in rows]))
                         if all(r["cycles_per_step"] is not None for r in rows) else None),
        cycles_kind=rows[0]["cycles_kind"] or "none (host)", selection_ran=SELECTION[method],
        learning_rate=None if method == "none" else learning_rate,
        budget_ram=budget_ram, budget_macs=budget_macs,
        augment=0 if method == "none" else augment,
        steps_per_task=0 if method == "none" else len(rows[0]["order"]),
    )
    if method == "none":
        out["classifier"] = "class prototypes (nearest mean) fit on the host from the board's features"
        out["step"] = "one forward to the features (no training step on the board)"
    else:
        out["head"] = HEADS[head]
        out["updates"] = [r["update"] for r in rows]
        out["recoveries"] = int(sum(r["recoveries"] for r in rows))
        out["trained_on"] = rows[0]["trained_on"]
    if method in ("tinytrain", "sparse-update"):
        out["chosen"] = chosen
    if scheme is not None:
        out["contribution"] = dict(base_accuracy=scheme.base, bias={str(k): v for k, v in scheme.bias.items()},
                                   weight={f"{i}:{r}": v for (i, r), v in scheme.weight.items()}, gain=scheme.gain,
                                   ram_bytes=scheme.ram_bytes, macs=scheme.macs)
    if method == "tinytrain" and board != HOST:
        out["selection_cycles"] = float(np.mean([r["selection"]["cycles"] for r in rows]))
        out["selection_memory_bytes"] = max(r["selection"]["memory_bytes"] for r in rows)
        out["selection_host_agrees"] = all(r["selection"]["host_agrees"] for r in rows)
    if rate_selection is not None:
        out["learning_rate_selection"] = rate_selection
    out["per_task"] = rows
    if rid is not None:
        out["run_id"] = record(store, rid, out)
    return out


# ---------------------------------------------------------------- tasks from a dataset folder


QUERY_SPLITS = ("test", "validation")


def kws_tasks(model_path, data_dir, classes: list[str], shots: int, queries: int, tasks: int,
              seed: int = 0, query_split: str | None = None) -> list[Task]:
    """Random tasks from a Speech Commands-layout folder: per task and class, ``shots`` support
    clips from the train split and ``queries`` query clips from ``query_split`` (None: the test
    split, validation if there is none; "test" or "validation": that split only, its voices
    disjoint from the other's), as the model's int8 inputs (the features config beside the
    model: ``MODEL.features.json``, as ``mcuforge train`` writes it)."""
    from ..data.features import FeatureConfig
    from ..data.speech_commands import load_split
    from ..frontend.reference import quantize_features
    from ..model.loader import load

    model_path = Path(model_path)
    graph = load(model_path).graph
    check_model(graph, len(classes))
    cfg_path = model_path.with_suffix(".features.json")
    if not cfg_path.is_file():
        raise AdaptError(f"{cfg_path} not found: adapt needs the features config beside the model "
                         "(as 'mcuforge train' writes it)")
    cfg = FeatureConfig.load(cfg_path)
    x_t = graph.tensor(graph.inputs[0])
    if int(np.prod(x_t.shape)) != cfg.n_frames * cfg.n_mels:
        raise AdaptError(f"features {cfg.shape} do not fit the model's input {tuple(x_t.shape)}")
    if query_split is not None and query_split not in QUERY_SPLITS:
        raise AdaptError(f"query split {query_split!r}: one of {', '.join(QUERY_SPLITS)}")
    X_tr, y_tr, _ = load_split(data_dir, classes, "train", features=cfg)
    try:
        X_q, y_q, _ = load_split(data_dir, classes, query_split or "test", features=cfg)
    except ValueError as exc:
        if query_split is not None:
            raise AdaptError(f"{data_dir}: no {query_split} clips for the query set ({exc})") from None
        X_q, y_q, _ = load_split(data_dir, classes, "validation", features=cfg)
    q_tr = quantize_features(X_tr, x_t.quant.s, x_t.quant.zp).reshape(-1, *x_t.shape)
    q_q = quantize_features(X_q, x_t.quant.s, x_t.quant.zp).reshape(-1, *x_t.shape)
    for name, y, n in (("train", y_tr, shots), ("query", y_q, queries)):
        for k, c in enumerate(classes):
            if int((y == k).sum()) < n:
                raise AdaptError(f"class {c!r} has {int((y == k).sum())} {name} clips; {n} are needed")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(tasks):
        sup = [(q_tr[i], k) for k in range(len(classes)) for i in rng.choice(np.flatnonzero(y_tr == k), shots, replace=False)]
        qry = [(q_q[i], k) for k in range(len(classes)) for i in rng.choice(np.flatnonzero(y_q == k), queries, replace=False)]
        out.append(Task(sup, qry))
    return out
