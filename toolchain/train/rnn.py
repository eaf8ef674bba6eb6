"""Time-series classifiers that stop early: EMI-RNN (Dennis et al., NeurIPS 2018) over FastGRNN,
LSTM or GRU cells, trained by the same code.

A long signal (a *bag*, [T, d]) is cut into *instances*: windows of ``window`` steps every
``stride`` steps. Two ideas, each optional:

- **MI-RNN** (multiple-instance learning, the paper's Algorithm 1): a positive bag's label is
  true only of the few windows that hold the event. Train on every window with its bag's label,
  then relabel from the model's own scores: in each positive bag the ``k`` consecutive windows
  with the highest score for the bag's class keep it, the others become the negative class;
  train again on the new labels, and so on for ``rounds``. (The public driver trained each round
  on the previous round's labels by mistake: here round r trains on the labels of round r-1's
  relabelling, as Algorithm 1 says.)
- **E-RNN** (early exit): the classifier is applied at every step and the loss averages over
  steps, so a prediction exists after any prefix; at inference a window stops at step t (checked
  every ``kappa`` steps) once the top class probability reaches ``p_hat`` — optionally only when
  that class is the negative one (a wake word must see the whole word, noise need not).
  ``early_exit=False`` keeps MI-RNN alone: the last step's loss and every window run to its end.

A bag is predicted as class c when at least ``k`` consecutive windows predict c (the longest such
run wins); otherwise negative. Compute is counted in cell steps (what the board executes).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .sidecar import read_sidecar, write_sidecar

FORMAT, FORMAT_VERSION = "mcuforge-rnn", 1
CELLS = ("fastgrnn", "lstm", "gru")


@dataclass(frozen=True)
class RnnConfig:
    cell: str = "fastgrnn"
    hidden: int = 32
    window: int = 48           # steps per instance (the whole bag when >= T)
    stride: int = 16
    emi: bool = True           # MI-RNN relabelling + early-exit training (E-RNN loss at every step)
    early_exit: bool = True    # with emi: the E-RNN part; False is MI-RNN alone (last-step loss, no exit)
    rank: int | None = None    # FastGRNN low-rank W, U
    sparsity: float = 0.0      # FastGRNN: fraction of W, U entries hard-thresholded to zero
    rounds: int = 3            # MI-RNN rounds (training + relabelling); 1 without --emi
    epochs: int = 10           # per round
    batch_size: int = 64
    learning_rate: float = 0.01
    k: int = 2                 # consecutive windows that carry (and decide) a bag's class
    p_hat: float = 0.95        # early-exit probability threshold
    kappa: int = 4             # check the exit every kappa steps
    negative_only_exit: bool = False
    seed: int = 0

    def __post_init__(self):
        problems = []
        if self.cell not in CELLS:
            problems.append(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.hidden <= 0 or self.window <= 0 or self.stride <= 0:
            problems.append("hidden, window and stride must be > 0")
        if not 0 <= self.sparsity < 1:
            problems.append(f"sparsity must be in [0, 1), got {self.sparsity}")
        if self.rank is not None and self.rank < 1:
            problems.append(f"rank must be >= 1 (or None for full rank), got {self.rank}")
        if (self.rank is not None or self.sparsity) and self.cell != "fastgrnn":
            problems.append("rank and sparsity apply to the fastgrnn cell only")
        if self.rounds < 1 or self.epochs < 1 or self.k < 1 or self.kappa < 1:
            problems.append("rounds, epochs, k and kappa must be >= 1")
        if not 0 < self.p_hat <= 1:
            problems.append(f"p_hat must be in (0, 1], got {self.p_hat}")
        if problems:
            raise ValueError("bad RNN config: " + "; ".join(problems))


# ---------------------------------------------------------------- instances and bags


def window_starts(steps: int, window: int, stride: int) -> list[int]:
    """Start step of each instance of a bag of ``steps`` (one instance when window >= steps)."""
    if window >= steps:
        return [0]
    return list(range(0, steps - window + 1, stride))


def make_instances(X: np.ndarray, window: int, stride: int) -> np.ndarray:
    """[N, T, d] bags -> [N, W, window, d] instances (bags shorter than a window are the window)."""
    X = np.asarray(X, np.float32)
    window = min(window, X.shape[1])
    starts = window_starts(X.shape[1], window, stride)
    return np.stack([X[:, s:s + window] for s in starts], axis=1)


def relabel(scores: np.ndarray, y: np.ndarray, k: int, negative: int) -> np.ndarray:
    """Algorithm 1's relabelling. scores [N, W]: each window's probability of its bag's class.
    Positive bags keep their label on the k consecutive windows of highest total score, the
    rest become ``negative``; negative bags stay negative everywhere."""
    n, w = scores.shape
    k = min(k, w)
    labels = np.full((n, w), negative, np.int64)
    sums = np.stack([scores[:, j:j + k].sum(1) for j in range(w - k + 1)], axis=1)
    best = sums.argmax(1)
    for i in range(n):
        if y[i] != negative:
            labels[i, best[i]:best[i] + k] = y[i]
    return labels


def bag_predictions(window_classes: np.ndarray, k: int, negative: int) -> np.ndarray:
    """[N, W] per-window classes -> [N] bag classes: the class of the longest run of equal
    non-negative predictions if that run is >= k windows long (ties: the earlier run), else
    negative."""
    out = np.full(len(window_classes), negative, np.int64)
    for i, row in enumerate(window_classes):
        best_len, best_cls, run, prev = 0, negative, 0, None
        for c in row:
            run = run + 1 if c == prev else 1
            prev = c
            if c != negative and run > best_len:
                best_len, best_cls = run, c
        if best_len >= min(k, len(row)):
            out[i] = best_cls
    return out


def early_exit(step_probs: np.ndarray, p_hat: float, kappa: int, negative: int | None = None,
               negative_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """step_probs [M, T, C] (softmax after each step of each window) -> (class [M], steps [M]):
    stop at the first step t = kappa, 2 kappa, ... (1-based) whose top probability >= p_hat
    (and, with negative_only, whose top class is ``negative``); else the last step's class."""
    m, t, _ = step_probs.shape
    classes = step_probs[:, -1].argmax(1)
    steps = np.full(m, t, np.int64)
    top, arg = step_probs.max(2), step_probs.argmax(2)
    for j in range(kappa - 1, t, kappa):
        ok = top[:, j] >= p_hat
        if negative_only:
            ok &= arg[:, j] == negative
        fresh = ok & (steps == t) & (j + 1 < t)
        classes[fresh] = arg[fresh, j]
        steps[fresh] = j + 1
    return classes, steps


# ---------------------------------------------------------------- the Keras model


def build_model(cfg: RnnConfig, input_dim: int, n_classes: int, window: int):
    """Input [window, d] -> logits after every step [window, n_classes] (E-RNN) — the plain model
    uses only the last step's."""
    import keras

    from .rnn_cells import FastGRNNCell

    if cfg.cell == "fastgrnn":
        cell = FastGRNNCell(cfg.hidden, rank_w=cfg.rank, rank_u=cfg.rank, name="fastgrnn")
    elif cfg.cell == "lstm":
        cell = keras.layers.LSTMCell(cfg.hidden, name="lstm")
    else:
        cell = keras.layers.GRUCell(cfg.hidden, reset_after=False, name="gru")
    inp = keras.Input((window, input_dim), name="frames")
    h = keras.layers.RNN(cell, return_sequences=True, name="rnn")(inp)
    logits = keras.layers.Dense(n_classes, name="classifier")(h)
    return keras.Model(inp, logits, name=f"{cfg.cell}{cfg.hidden}")


def _loss(every_step: bool):
    import keras
    from keras import ops

    def loss(y_true, logits):
        y = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        if not every_step:
            return keras.losses.sparse_categorical_crossentropy(y, logits[:, -1], from_logits=True)
        t = ops.shape(logits)[1]
        y_t = ops.repeat(ops.expand_dims(y, 1), t, axis=1)
        return ops.mean(keras.losses.sparse_categorical_crossentropy(y_t, logits, from_logits=True), axis=1)

    return loss


def step_probabilities(model, instances: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """[N, W, window, d] -> softmax after every step [N, W, window, C]."""
    n, w = instances.shape[:2]
    logits = model.predict(instances.reshape(n * w, *instances.shape[2:]), batch_size=batch_size, verbose=0)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).reshape(n, w, *logits.shape[1:])


@dataclass
class Evaluation:
    accuracy: float
    mean_steps: float         # cell steps per bag actually executed
    full_steps: int           # cell steps per bag without early exit
    predictions: np.ndarray = field(repr=False)

    @property
    def savings(self) -> float:
        """Full-window compute over the compute spent (>= 1)."""
        return self.full_steps / self.mean_steps if self.mean_steps else float("inf")


def evaluate(model, cfg: RnnConfig, X: np.ndarray, y: np.ndarray, negative: int | None,
             early: bool | None = None) -> Evaluation:
    """Bag accuracy and cell steps per bag. With EMI (and early unless told otherwise) windows
    exit early and the bag rule decides; without EMI the one full-length window decides."""
    inst = make_instances(X, cfg.window if cfg.emi else X.shape[1], cfg.stride)
    probs = step_probabilities(model, inst)
    n, w, t, c = probs.shape
    return decide(probs, cfg, y, negative, early)


def decide(probs: np.ndarray, cfg: RnnConfig, y: np.ndarray, negative: int | None,
           early: bool | None = None) -> Evaluation:
    """``evaluate`` from the step probabilities [N, W, window, C] it computed (so a sweep over
    p_hat needs the model once)."""
    n, w, t, c = probs.shape
    early = cfg.emi and cfg.early_exit if early is None else early
    if early:
        cls, steps = early_exit(probs.reshape(n * w, t, c), cfg.p_hat, cfg.kappa, negative, cfg.negative_only_exit)
    else:
        cls, steps = probs[:, :, -1].reshape(n * w, c).argmax(1), np.full(n * w, t)
    cls, steps = cls.reshape(n, w), steps.reshape(n, w)
    if cfg.emi and negative is not None:
        pred = bag_predictions(cls, cfg.k, negative)
    else:
        pred = cls[:, -1]
    return Evaluation(float((pred == y).mean()), float(steps.sum(1).mean()), w * t, pred)


def exit_sweep(model, cfg: RnnConfig, X: np.ndarray, y: np.ndarray, negative: int | None,
               p_hats) -> list[dict]:
    """Early exit at each threshold in ``p_hats`` (same model, same windows): bag accuracy,
    cell steps per bag and the savings against the same windows without exit."""
    from dataclasses import replace

    probs = step_probabilities(model, make_instances(X, cfg.window, cfg.stride))
    rows = []
    for p in p_hats:
        e = decide(probs, replace(cfg, p_hat=float(p), early_exit=True), y, negative, early=True)
        rows.append(dict(p_hat=float(p), accuracy=e.accuracy, mean_steps=e.mean_steps, full_steps=e.full_steps,
                         savings=e.savings))
    return rows


def train_rnn(data, cfg: RnnConfig, progress: bool = True):
    """Train on ``data`` (a mcuforge.data.sequences.SequenceData). Returns (model, report)."""
    import keras

    from .rnn_cells import HardThreshold
    from .train import class_weights, seed_everything

    seed_everything(cfg.seed)
    X_tr, y_tr = data.split("train")
    X_va, y_va = data.split("validation")
    n_classes, negative = len(data.labels), data.negative
    if cfg.emi and negative is None:
        raise ValueError(f"{data.name}: EMI needs a negative class (the label windows without the event "
                         "become); this data set names none — train without --emi")
    window = min(cfg.window, X_tr.shape[1]) if cfg.emi else X_tr.shape[1]
    model = build_model(cfg, X_tr.shape[2], n_classes, window)
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate),
                  loss=_loss(every_step=cfg.emi and cfg.early_exit))
    inst = make_instances(X_tr, window, cfg.stride)
    n, w = inst.shape[:2]
    labels = np.repeat(y_tr[:, None], w, axis=1)  # round 0: every window carries its bag's label
    rounds = cfg.rounds if cfg.emi else 1
    cells = [la.cell for la in model.layers if hasattr(la, "cell") and hasattr(la.cell, "matrices")]
    total_epochs = rounds * cfg.epochs
    callbacks = []
    if cfg.sparsity and cells:  # the paper's stages: dense, thresholding, fixed support
        callbacks.append(HardThreshold(cells, 1 - cfg.sparsity, start=total_epochs // 3, fix=2 * total_epochs // 3))
    history = []
    for r in range(rounds):
        flat = labels.reshape(-1)
        weights = class_weights(flat, n_classes)  # relabelling makes the negative class dominate
        model.fit(inst.reshape(n * w, *inst.shape[2:]), flat, batch_size=cfg.batch_size,
                  sample_weight=np.array([weights[c] for c in flat], np.float32),
                  epochs=(r + 1) * cfg.epochs, initial_epoch=r * cfg.epochs, shuffle=True,
                  callbacks=callbacks, verbose=1 if progress else 0)
        if cfg.emi and r + 1 < rounds:
            probs = step_probabilities(model, inst)[:, :, -1]  # [N, W, C] at each window's end
            scores = np.take_along_axis(probs, y_tr[:, None, None].repeat(w, 1), axis=2)[..., 0]
            new = relabel(scores, y_tr, cfg.k, negative)
            history.append(dict(round=r, relabelled=float((new != labels).mean())))
            labels = new
    report = dict(config=asdict(cfg), rounds=history, params=int(model.count_params()),
                  nonzero_params=int(sum(int(np.count_nonzero(v)) for v in model.get_weights())))
    for split, (X, y) in (("train", (X_tr, y_tr)), ("validation", (X_va, y_va))):
        e = evaluate(model, cfg, X, y, negative)
        report[f"{split}_accuracy"] = e.accuracy
        report[f"{split}_mean_steps"] = e.mean_steps
    if data.has("test"):
        X_te, y_te = data.split("test")
        e = evaluate(model, cfg, X_te, y_te, negative)
        report.update(test_accuracy=e.accuracy, test_mean_steps=e.mean_steps, test_full_steps=e.full_steps)
    return model, report


# ---------------------------------------------------------------- files


def save_rnn(model, cfg: RnnConfig, data, path, report: dict | None = None) -> Path:
    """``path`` (.keras) plus ``path.with_suffix('.json')``: what the generator needs beside the
    weights (config, labels, negative class, input size, feature config)."""
    path = Path(path)
    if not path.name.endswith(".keras"):
        raise ValueError(f"{path}: an RNN is saved as a .keras file")
    meta = dict(format=FORMAT, version=FORMAT_VERSION, config=asdict(cfg), labels=list(data.labels),
                negative=data.negative, input_dim=int(model.input_shape[-1]), window=int(model.input_shape[1]),
                data=data.name, feature_config=data.feature_config, report=report or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    import keras

    # The same layers and weights, uncompiled: the training loss is a Python function, which a
    # .keras file may only name as code (the generator's safe-mode check refuses it).
    keras.Model(model.inputs, model.outputs, name=model.name).save(path)
    write_sidecar(path, meta)
    return path


def load_rnn(path):
    """(Keras model, RnnConfig, metadata) of a model written by save_rnn."""
    import keras

    from . import rnn_cells  # noqa: F401  (registers FastGRNNCell for deserialization)

    path = Path(path)
    meta = read_sidecar(path, FORMAT, FORMAT_VERSION, "RNN")
    return keras.saving.load_model(path, compile=False), RnnConfig(**meta["config"]), meta
