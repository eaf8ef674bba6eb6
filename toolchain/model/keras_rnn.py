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


def load_rnn_keras(path) -> tuple[Graph, dict]:
    """Read ``path`` (.keras) and its ``.json``; returns (the one-step graph, the metadata with
    ``kind`` "rnn")."""
    from ..train.rnn import load_rnn

    path = Path(path)
    check_keras_archive(path)  # only Keras built-ins and mcuforge's objects, before Keras reads it
    try:
        model, _, meta = load_rnn(path)
    except (ValueError, TypeError, KeyError) as exc:
        raise RnnModelError(f"{path}: cannot read the RNN ({exc})") from None
    stem = path.name[:-len(".keras")].replace(".rnn", "") or "rnn"
    graph = step_graph(model, meta, stem)
    graph.source_hash = hashlib.sha256(path.read_bytes() + path.with_suffix(".json").read_bytes()).hexdigest()
    return graph, {**meta, "kind": "rnn"}
