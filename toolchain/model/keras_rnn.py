"""Front end for the time-series classifiers of ``mcuforge train rnn``: a saved ``.rnn.keras``
(``mcuforge.train.rnn.save_rnn``: the Keras model and its ``.json`` beside it) as the IR graph
of **one step**, which the device runs once per input frame:

    frame float32 [1, d] -> fastgrnn_f32 | lstm_f32 | gru_f32 -> dense_f32 -> logits float32 [1, C]
                            (h [1, H], and an LSTM's c, are *state* tensors: in the arena,
                             updated in place, zeroed by mf_model_reset() before each window)

What happens around the step (the ring of recent frames, an instance every stride, the early
exit at p_hat every kappa steps, the bag rule) is the ``rnn`` firmware extension
(``firmware/rnn/``), configured from the metadata this returns (``mcuforge.rnn.RnnRule``).
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from ..graph.ir import Graph, Op, Tensor
from ..graph.lower import lower
from .errors import ModelError
from .keras_bnn import check_keras_archive


class RnnModelError(ModelError):
    """The .rnn.keras file is not a model this front end can compile (the message says why)."""


def _f32(v) -> np.ndarray:
    return np.asarray(v, np.float32)


def _check_activations(cell, kind: str) -> None:
    cfg = cell.get_config()
    want = {"activation": "tanh", "recurrent_activation": "sigmoid"}
    bad = {k: cfg.get(k) for k, v in want.items() if cfg.get(k) != v}
    if kind == "gru" and cfg.get("reset_after"):
        bad["reset_after"] = True
    if not cfg.get("use_bias", True):
        bad["use_bias"] = False
    if bad:
        raise RnnModelError(f"{kind} cell with {bad}: the device kernels implement tanh/sigmoid cells with biases"
                            " (GRU: reset_after=False), as mcuforge train rnn builds them")


def step_graph(model, meta: dict, name: str) -> Graph:
    """The Keras model's cell and classifier as the lowered graph of one step."""
    cell_kind = meta["config"]["cell"]
    try:
        cell = model.get_layer("rnn").cell
        dense = model.get_layer("classifier")
    except ValueError as exc:
        raise RnnModelError(f"not a model of mcuforge train rnn (no 'rnn' and 'classifier' layers): {exc}") from None
    d = int(model.input_shape[-1])
    hidden = int(cell.units)
    kernel, bias = (_f32(v) for v in dense.get_weights())
    classes = kernel.shape[1]
    t = {"frame": Tensor("frame", (1, d), "float32"),
         "h": Tensor("h", (1, hidden), "float32", persist="state"),
         "logits": Tensor("logits", (1, classes), "float32"),
         "classifier/kernel": Tensor("classifier/kernel", kernel.shape, "float32", data=kernel),
         "classifier/bias": Tensor("classifier/bias", bias.shape, "float32", data=bias)}

    def const(key, value):
        t[key] = Tensor(key, value.shape, "float32", data=_f32(value))
        return key

    if cell_kind == "fastgrnn":
        ws = [const(f"{cell_kind}/{v.name}", _f32(v.numpy())) for v in cell.w]
        us = [const(f"{cell_kind}/{v.name}", _f32(v.numpy())) for v in cell.u]
        sig = lambda v: float(1 / (1 + np.exp(-float(np.asarray(v.numpy())))))  # noqa: E731
        inputs = ["frame", "h", ws[0], ws[1] if len(ws) > 1 else "", us[0], us[1] if len(us) > 1 else "",
                  const("fastgrnn/b_z", cell.b_z.numpy()), const("fastgrnn/b_h", cell.b_h.numpy())]
        cell_op = Op("fastgrnn_f32", inputs, ["h"], {"zeta": sig(cell.zeta), "nu": sig(cell.nu)}, 0, "rnn")
    elif cell_kind in ("lstm", "gru"):
        _check_activations(cell, cell_kind)
        k, r, b = (_f32(v) for v in cell.get_weights())
        states = ["h"]
        if cell_kind == "lstm":
            t["c"] = Tensor("c", (1, hidden), "float32", persist="state")
            states.append("c")
        inputs = ["frame", *states, const(f"{cell_kind}/kernel", k), const(f"{cell_kind}/recurrent", r),
                  const(f"{cell_kind}/bias", b)]
        cell_op = Op(f"{cell_kind}_f32", inputs, states, {}, 0, "rnn")
    else:
        raise RnnModelError(f"unknown cell {cell_kind!r} (fastgrnn, lstm, gru)")
    ops = [cell_op, Op("dense_f32", ["h", "classifier/kernel", "classifier/bias"], ["logits"], {}, 1, "classifier")]
    return lower(Graph(name, t, ops, inputs=["frame"], outputs=["logits"]))


def _check_meta(meta: dict, graph: Graph, meta_path: Path) -> None:
    """The sidecar's fields the firmware and the host client are built from, against the model."""
    d, classes = graph.tensors[graph.inputs[0]].size, graph.tensors[graph.outputs[0]].size
    window, negative, labels = meta.get("window"), meta.get("negative"), meta.get("labels")
    problems = []
    if not (isinstance(window, int) and not isinstance(window, bool) and window >= 1):
        problems.append(f"window must be a whole number of steps >= 1, got {window!r}")
    if meta.get("input_dim") != d:
        problems.append(f"input_dim {meta.get('input_dim')!r} is not the model's frame size {d}")
    if not (isinstance(labels, list) and len(labels) == classes and all(isinstance(x, str) for x in labels)):
        problems.append(f"labels must be a list of the model's {classes} class names, got {labels!r}")
    if negative is not None and not (isinstance(negative, int) and 0 <= negative < classes):
        problems.append(f"negative must be none or a class index 0..{classes - 1}, got {negative!r}")
    if problems:
        raise RnnModelError(f"{meta_path}: " + "; ".join(problems))


def load_rnn_keras(path) -> tuple[Graph, dict]:
    """Read ``path`` (.keras) and its ``.json``; returns (the one-step graph, the metadata with
    ``kind`` "rnn")."""
    from ..train.rnn import load_rnn

    path = Path(path)
    check_keras_archive(path)  # only Keras built-ins and mcuforge's objects, before Keras reads it
    try:
        model, cfg, meta = load_rnn(path)
    except (ValueError, TypeError, KeyError) as exc:
        raise RnnModelError(f"{path}: cannot read the RNN ({exc})") from None
    missing = [f.name for f in dataclasses.fields(cfg) if f.name not in meta["config"]]
    if missing:  # save_rnn writes them all: the defaults of a new training run are not this model's
        raise RnnModelError(f"{path.with_suffix('.json')}: config lacks {', '.join(missing)}")
    stem = path.name[:-len(".keras")].replace(".rnn", "") or "rnn"
    graph = step_graph(model, meta, stem)
    _check_meta(meta, graph, path.with_suffix(".json"))
    graph.source_hash = hashlib.sha256(path.read_bytes() + path.with_suffix(".json").read_bytes()).hexdigest()
    return graph, {**meta, "kind": "rnn"}


# ---------------------------------------------------------------- fixed point (cores without an FPU)


def fixed_point_graph(graph: Graph) -> Graph:
    """The float one-step graph in fixed point (``fastgrnn_q``, ``lstm_q`` or ``gru_q``, then
    ``dense_q``; formats in ``mcuforge.ops._fixed_rnn``): frames int16 Q11, states Q12, int16
    weights with a power-of-two scale each, int32 logits."""
    from ..ops._fixed_rnn import CLASSIFIER_MAX, FRAME_FRAC, STATE_FRAC, quantize, tanh_table, weight_frac

    cell, dense = graph.ops
    d, hidden = graph.tensor("frame").size, graph.tensor("h").size
    states = [n for n in cell.outputs]
    t = {"frame": Tensor("frame", (1, d), "int16"),
         "tanh_table": Tensor("tanh_table", (257,), "int16", data=tanh_table())}
    for n in states:
        t[n] = Tensor(n, (1, hidden), "int16", persist="state")

    def weights(name, w=None, frac=None):
        """``name`` (or its slice ``w``) int16 at ``frac`` (its own scale when None) -> (name, frac)."""
        w = graph.tensor(name).data if w is None else w
        frac = weight_frac(w) if frac is None else frac
        t[name] = Tensor(name, w.shape, "int16", data=quantize(w, frac))
        return name, frac

    def bias(name):
        t[name] = Tensor(name, graph.tensor(name).shape, "int16", data=quantize(graph.tensor(name).data, STATE_FRAC))
        return name

    builder = {"fastgrnn_f32": _fastgrnn_q, "lstm_f32": _lstm_q, "gru_f32": _gru_q}.get(cell.kind)
    if builder is None:
        raise RnnModelError(f"{cell.kind}: no fixed-point kernel")
    cell_q = builder(cell, graph, weights, bias)
    kernel, b = (graph.tensor(n).data for n in dense.inputs[1:])
    fw = weight_frac(kernel, CLASSIFIER_MAX)
    logit_frac = STATE_FRAC + fw
    t["classifier/kernel"] = Tensor("classifier/kernel", kernel.shape, "int16", data=quantize(kernel, fw))
    t["classifier/bias"] = Tensor("classifier/bias", b.shape, "int32",
                                  data=quantize(b, logit_frac, -2**31, 2**31 - 1, np.int32))
    t["logits"] = Tensor("logits", (1, kernel.shape[1]), "int32")
    dense_q = Op("dense_q", ["h", "classifier/kernel", "classifier/bias"], ["logits"], {"frac": logit_frac}, 1,
                 "classifier")
    out = lower(Graph(graph.name, t, [cell_q, dense_q], inputs=["frame"], outputs=["logits"]))
    out.source_hash = graph.source_hash
    return out


def _fastgrnn_q(cell: Op, graph: Graph, weights, bias) -> Op:
    from ..ops._fixed_rnn import FRAME_FRAC, GATE_FRAC, quantize

    frac = [0] * 9
    inputs = ["frame", "h"]
    for k, name in enumerate(cell.inputs[2:6]):
        if name:
            frac[2 + k] = weights(name)[1]
        inputs.append(name)
    inputs += [bias(n) for n in cell.inputs[6:8]]
    attrs = {"frac": frac, "zeta": int(quantize(cell.attrs["zeta"], GATE_FRAC)),
             "nu": int(quantize(cell.attrs["nu"], GATE_FRAC)), "frame_frac": FRAME_FRAC}
    return Op("fastgrnn_q", inputs + ["tanh_table"], ["h"], attrs, 0, "rnn")


def _lstm_q(cell: Op, graph: Graph, weights, bias) -> Op:
    k, fk = weights(cell.inputs[3])
    r, fr = weights(cell.inputs[4])
    return Op("lstm_q", ["frame", "h", "c", k, r, bias(cell.inputs[5]), "tanh_table"], ["h", "c"],
              {"frac": (fk, fr)}, 0, "rnn")


def _gru_q(cell: Op, graph: Graph, weights, bias) -> Op:
    """The recurrent matrix in one scale, split into its z, r columns and its h columns (the
    candidate's product comes after the reset gate)."""
    from ..ops._fixed_rnn import weight_frac

    k, fk = weights(cell.inputs[2])
    r = graph.tensor(cell.inputs[3]).data
    n = r.shape[0]
    fr = weight_frac(r)
    zr, _ = weights(f"{cell.inputs[3]}_zr", r[:, :2 * n], fr)
    rh, _ = weights(f"{cell.inputs[3]}_h", r[:, 2 * n:], fr)
    return Op("gru_q", ["frame", "h", k, zr, rh, bias(cell.inputs[4]), "tanh_table"], ["h"], {"frac": (fk, fr)},
              0, "rnn")


def graph_for_board(model, board) -> Graph:
    """The graph ``model`` runs on ``board``: an RNN in fixed point on a core without an FPU
    (every cell has a fixed-point kernel); every other graph as loaded."""
    if getattr(model, "kind", None) == "rnn" and not board.fpu:
        return fixed_point_graph(model.graph)
    return model.graph
