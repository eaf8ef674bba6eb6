"""The binary keyword-spotting backbone (Vu et al. 2025): model, training, saving for the generator.

Network (layer names are the contract with ``mcuforge.model.keras_bnn``; see ``bnn_layers`` for the
exact forward semantics every device kernel must reproduce):

    log_mel   (98, 64, 1) normalized log-mel (25 ms window, 10 ms hop, 64 bands)
    conv0     Conv2D, full precision, no bias  -> conv0_bn -> conv0_relu       (device: conv2d_threshold)
    bconv1..N BinaryConv2D, -1 padding         -> bconvI_bn -> bconvI_relu     (device: bconv2d)
    conv_last BinaryInputConv2D, float kernel  -> conv_last_bn -> conv_last_relu (device: bconv2d_int8w)
    embedding GlobalAveragePooling2D -> the float32 embedding the device learns on (device: mean_f32)
    head_dropout Dropout (training only; absent when dropout is 0)
    head      Dense(n_classes, softmax): the pretrained classifier, W = kernel.T, b = bias

Every conv is followed by BatchNormalization and ReLU. A binary layer binarizes ReLU(BN(.)) of the
layer before it with b(x) = +1 if x > 0 else -1, so on the device each conv's output becomes one
bit per channel, (BN(acc) > 0), folded into an integer threshold; only conv_last's output is
float. The first conv's int8 accumulators are never stored: they become bits at once.

conv0 has "valid" padding and zero-sum kernels (ZeroMeanKernel): its output ignores a constant
added to the log-mel, i.e. the recording level. A float network learns level invariance from
activation magnitudes; a binary one, with 1-bit activations, learns it slowly: on the espeak-ng
set this took the BNN from 29 % to 36 % validation accuracy after the same 5 + 6 epochs.

Default sizes on the STM32F405 (98 x 64 input; bits are packed 32 channels per word):
    conv0      5x5 s2 valid -> 47x30x64    bits 11.0 KB   2.3 M MACs (int8)
    bconv1     3x3 s2       -> 24x15x128   bits  5.6 KB   26 M binary MACs (XOR + popcount, 32 per word)
    bconv2     3x3 s2       -> 12x8x256    bits  3.0 KB   28 M binary MACs
    bconv3     3x3 s1       -> 12x8x256    bits  3.0 KB   57 M binary MACs
    conv_last  1x1 s1       -> 12x8x128    float32 48 KB (the largest tensor), 3.1 M MACs (int8 x +-1)
Binary weights are 117 KB of bits (0.94 MB as int8). Why this shape: the network underfits (train
accuracy stays near validation accuracy), so width goes where it is cheap, into the binary layers;
a 3x3 int8-weight last conv over 128 channels cost 45 M instructions per clip on its own, the 1x1 one
over 256 channels costs 3.1 M MACs. Against (64, 128, 128) binary channels and a 3x3 last conv it
reached the same test accuracy in 12 binary epochs instead of 20 (54 % vs 55 %, espeak-ng set).
With the default schedule (15 full-precision + 40 binary epochs, mcuforge.train.BNN_EPOCHS) it reaches
79-82 % test accuracy on the 12 base classes (two runs), its full-precision twin 88 %; 10 + 20 epochs gave
68.6 %; distilling from the twin in the binary phase (distill=0.5) gave 80.0 % against 81.6 % without,
on the same data. Binary activations are what costs: fine-tuning with only the weights binarized reached 63 %
validation accuracy in 3 epochs, with weights and activations 20 %.

Training (fit_bnn) has two phases: the same network in full precision first, then the BNN started
from its weights. A BNN trained from scratch learned far slower in the few hundred steps a small
dataset gives (17 % validation accuracy after 7 epochs, against 64 % for the float network).

Training data: the base words only. Clips of ``NEW_KEYWORDS`` (zero..three, learned later on the
device) are left out entirely instead of being folded into "unknown": the embedding must not learn
to map the future keywords onto one class.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..data.augment import augment
from ..data.features import FeatureConfig
from ..data.speech_commands import UNKNOWN, load_split
from . import BNN_EPOCHS, BNN_FLOAT_EPOCHS, check_bnn_schedule
from .bnn_layers import BinaryConv2D, BinaryInputConv2D, ClipConstraint, SteReLU, ZeroMeanKernel, sign_ste  # noqa: F401 (registers)
from .sidecar import read_sidecar, write_sidecar

BASE_LABELS = ("silence", "unknown", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
NEW_KEYWORDS = ("zero", "one", "two", "three")
BNN_FEATURES = FeatureConfig(hop=160, n_mels=64)  # 25 ms / 10 ms / 64 bands -> 98 x 64
FORMAT = "mcuforge-bnn-kws"
FORMAT_VERSION = 1
BN_MOMENTUM = 0.9  # Keras' 0.99 lags for many epochs on a few thousand clips (see dscnn.py)

DEFAULT_WIDTHS = (128, 256, 256)
DEFAULT_STRIDES = (2, 2, 1)


def _bn_relu(x, name: str, ste: bool = False):
    from keras import layers

    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return (SteReLU if ste else layers.ReLU)(name=f"{name}_relu")(x)


def build_bnn_kws(input_shape=(98, 64, 1), n_classes: int = 12, widths=DEFAULT_WIDTHS,
                  strides=DEFAULT_STRIDES, first_filters: int = 64, first_kernel=(5, 5), first_strides=2,
                  kernel_size: int = 3, embedding_dim: int = 128, last_strides: int = 1, last_kernel: int = 1,
                  dropout: float = 0.1, binary: bool = True, ste_relu: bool = False,
                  first_padding: str = "valid", first_zero_mean: bool = True):
    """The Keras 3 BNN keyword spotter (layer names in the module docstring).

    widths/strides: one entry per binary conv. first_zero_mean: zero-sum conv0 kernels (level
    invariance, exact only with first_padding="valid"). ste_relu: SteReLU (ReLU forward,
    straight-through backward) in front of the binary layers; it made no difference in our runs. binary=False builds the same network
    with full-precision Conv2D layers in place of the binary ones: a float baseline for measuring
    what binarization costs (it cannot be generated for the device).
    """
    import keras
    from keras import layers

    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 1 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be (frames, mel bands, 1), got {input_shape}")
    widths, strides = tuple(widths), tuple(strides)
    if len(widths) != len(strides) or not 1 <= len(widths) <= 8:
        raise ValueError(f"widths {widths} and strides {strides} need the same length (1..8 binary convs)")
    if n_classes < 2 or embedding_dim < 1 or first_filters < 1 or min(widths) < 1:
        raise ValueError(f"need n_classes >= 2 and positive widths; got n_classes={n_classes}, "
                         f"first_filters={first_filters}, widths={widths}, embedding_dim={embedding_dim}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")

    x_in = keras.Input(shape=input_shape, name="log_mel")
    conv0 = layers.Conv2D(first_filters, first_kernel, strides=first_strides, padding=first_padding, use_bias=False,
                          kernel_constraint=ZeroMeanKernel() if first_zero_mean else None, name="conv0")
    x = conv0(x_in)
    if first_zero_mean:  # the constraint acts after each update: start zero-sum as well
        conv0.kernel.assign(ZeroMeanKernel()(conv0.kernel))
    x = _bn_relu(x, "conv0", ste_relu and binary)
    for i, (w, s) in enumerate(zip(widths, strides), start=1):
        if binary:
            x = BinaryConv2D(w, kernel_size, strides=s, padding="same", name=f"bconv{i}")(x)
        else:
            x = layers.Conv2D(w, kernel_size, strides=s, padding="same", use_bias=False, name=f"bconv{i}")(x)
        x = _bn_relu(x, f"bconv{i}", ste_relu and binary)
    if binary:
        x = BinaryInputConv2D(embedding_dim, last_kernel, strides=last_strides, padding="same", name="conv_last")(x)
    else:
        x = layers.Conv2D(embedding_dim, last_kernel, strides=last_strides, padding="same", use_bias=False,
                          name="conv_last")(x)
    x = _bn_relu(x, "conv_last")
    x = layers.GlobalAveragePooling2D(name="embedding")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    out = layers.Dense(n_classes, activation="softmax", name="head")(x)
    return keras.Model(x_in, out, name="bnn_kws" if binary else "bnn_kws_float")


def backbone_layers(model) -> list[dict]:
    """The conv stack in execution order, as the generator's front end reads it: one dict per conv
    with its kind ("conv2d" | "bconv2d" | "bconv2d_int8w"), layer names (conv, bn, relu),
    kernel_size, strides, padding and filters. Raises if the model is not a BNN made here."""
    from keras import layers

    out = []
    for layer in model.layers:
        if isinstance(layer, BinaryConv2D):
            kind = "bconv2d"
        elif isinstance(layer, BinaryInputConv2D):
            kind = "bconv2d_int8w"
        elif isinstance(layer, layers.Conv2D):
            kind = "conv2d"
        else:
            continue
        out.append({"kind": kind, "conv": layer.name, "bn": f"{layer.name}_bn", "relu": f"{layer.name}_relu",
                    "filters": int(layer.filters), "kernel_size": [int(k) for k in layer.kernel_size],
                    "strides": [int(s) for s in layer.strides], "padding": str(layer.padding)})
    kinds = [c["kind"] for c in out]
    if len(kinds) < 2 or kinds[0] != "conv2d" or kinds[-1] != "bconv2d_int8w" or \
            any(k != "bconv2d" for k in kinds[1:-1]):
        raise ValueError(f"model '{model.name}' is not a binary keyword spotter: expected Conv2D, "
                         f"BinaryConv2D..., BinaryInputConv2D; found {kinds}")
    names = {layer.name for layer in model.layers}
    for c in out:
        missing = [n for n in (c["bn"], c["relu"]) if n not in names]
        if missing:
            raise ValueError(f"conv '{c['conv']}' is not followed by BatchNormalization + ReLU: no layer {missing}")
    for n in ("embedding", "head"):
        if n not in names:
            raise ValueError(f"model '{model.name}' has no '{n}' layer")
    return out


# ---------------------------------------------------------------- data


def load_bnn_data(data_dir, labels=BASE_LABELS, features: FeatureConfig = BNN_FEATURES,
                  exclude_words=NEW_KEYWORDS):
    """({split: (X, y, files) or None}, normalized FeatureConfig) without the clips of exclude_words.

    Like train.load_normalized, but words held back for on-device learning are dropped before the
    normalization statistics are computed (instead of being labeled "unknown").
    """
    from .train import feature_stats

    labels = list(labels)
    exclude = set(exclude_words or ())
    clash = exclude & set(labels)
    if clash:
        raise ValueError(f"words {sorted(clash)} are both labels and excluded words")
    raw = FeatureConfig(**{**features.to_dict(), "mean": None, "std": None})

    def load(split):
        try:
            X, y, files = load_split(data_dir, labels, split, features=raw)
        except ValueError as e:
            if split == "test" and "has no clips" in str(e):
                return None
            raise
        keep = np.array([f.split("/", 1)[0] not in exclude for f in files], bool)
        return X[keep], y[keep], [f for f, k in zip(files, keep) if k]

    raw_splits = {s: load(s) for s in ("train", "validation", "test")}
    cfg = raw.with_stats(*feature_stats(raw_splits["train"][0]))
    data = {s: None if v is None else (cfg.normalize(v[0]), v[1], v[2]) for s, v in raw_splits.items()}
    return data, cfg


# ---------------------------------------------------------------- training


def _fit_epochs(model, X_train, y_train, sample_w, X_val, Y_val, n_classes, epochs, batch_size, learning_rate,
                rng, max_shift, progress, keep=None, label_smoothing=0.0, teacher=None, distill=0.0, speed=0.0,
                freq_mask=0, time_mask=0):
    """Adam + cosine decay over ``epochs``; every epoch sees freshly augmented clips
    (:func:`mcuforge.data.augment.augment`).
    With a teacher, the targets are (1 - distill) * one-hot + distill * the teacher's softmax on the
    same augmented clips (knowledge distillation at temperature 1)."""
    import keras

    steps = epochs * int(np.ceil(len(X_train) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps, alpha=0.01)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=["accuracy"])
    Y_train = keras.utils.to_categorical(y_train, n_classes)
    history: dict[str, list] = {}
    if keep is not None:
        keep.set_model(model)
    for epoch in range(epochs):
        X_ep = augment(X_train, rng, max_shift, speed, freq_mask, time_mask)[..., None]
        Y_ep = Y_train
        if teacher is not None and distill > 0:
            soft = teacher.predict(X_ep, batch_size=256, verbose=0)
            Y_ep = ((1.0 - distill) * Y_train + distill * soft).astype(np.float32)
        h = model.fit(X_ep, Y_ep, sample_weight=sample_w, validation_data=(X_val, Y_val), initial_epoch=epoch,
                      epochs=epoch + 1, batch_size=batch_size, shuffle=True, verbose=2 if progress else 0)
        for k, v in h.history.items():
            history.setdefault(k, []).extend(float(x) for x in v)
        if keep is not None:
            keep.on_epoch_end(epoch, {k: v[-1] for k, v in h.history.items()})
    if keep is not None:
        keep.on_train_end()
    return history


def binary_from_float(float_model, binary_model) -> None:
    """Start a BNN from a float network of the same layout: every weight is copied by layer
    name; the binary layers' latent kernels are the float kernels scaled into [-1, 1] (per layer,
    by max |w|), so their signs, and the binary weights, are the float network's."""
    for layer in binary_model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        src = float_model.get_layer(layer.name).get_weights()
        if [w.shape for w in src] != [w.shape for w in weights]:
            raise ValueError(f"layer '{layer.name}': float weights {[w.shape for w in src]} do not fit "
                             f"{[w.shape for w in weights]}")
        if isinstance(layer, BinaryConv2D):
            k = src[0]
            src = [np.clip(k / max(float(np.abs(k).max()), 1e-12), -1.0, 1.0).astype(np.float32)]
        layer.set_weights(src)


def fit_bnn(X_train, y_train, X_val, y_val, n_classes: int, epochs: int = 8, batch_size: int = 64,
            seed: int = 0, progress: bool = True, learning_rate: float = 1e-3, float_epochs: int | None = None,
            float_learning_rate: float = 1e-3, max_shift: int = 8, label_smoothing: float = 0.0,
            float_eval=None, distill: float = 0.0, class_balance: bool = True, speed: float = 0.0,
            freq_mask: int = 0, time_mask: int = 0, **model_kwargs):
    """Build and fit the BNN on normalized features (clips, frames, mels); returns (model, history).

    Two phases, because a BNN trained from scratch learns very slowly in the few hundred steps a
    small dataset gives: first the same network in full precision (``float_epochs``, default
    epochs // 2), then the BNN started from it (``binary_from_float``) for ``epochs``. Each phase:
    Adam with cosine decay, class weights, a random time shift of up to max_shift frames per
    clip and epoch; optionally a speed perturbation of up to ``speed`` (a fraction) and SpecAugment
    masks of up to ``freq_mask`` mel bands and ``time_mask`` frames (:func:`mcuforge.data.augment.augment`).
    The BNN keeps the weights of its best validation epoch.
    history: per-epoch lists of the binary phase, float_* lists of the float phase, best_epoch
    (index into the binary phase). float_eval(float_model) -> dict is merged into history after
    the float phase (e.g. the float network's test accuracy). distill (0..1): in the binary phase,
    the weight of the float network's predictions in the targets (0: labels only). class_balance:
    weigh each clip n / (classes x its class's count); False: every clip weighs 1.
    """
    import keras

    from .train import KeepBest, class_weights, deterministic_ops, seed_everything

    float_epochs = epochs // 2 if float_epochs is None else int(float_epochs)
    check_bnn_schedule(epochs, batch_size, float_epochs, distill)
    if not 0.0 <= speed < 0.5 or freq_mask < 0 or time_mask < 0:
        raise ValueError(f"need 0 <= speed < 0.5 and masks >= 0; got speed={speed}, freq_mask={freq_mask}, "
                         f"time_mask={time_mask}")
    if "binary" in model_kwargs:
        raise ValueError("fit_bnn always trains the binary network (use build_bnn_kws(binary=False) for a float one)")
    seed_everything(seed)
    X_train = np.asarray(X_train, np.float32)
    y_train = np.asarray(y_train)
    X_val = np.asarray(X_val, np.float32)[..., None]
    Y_val = keras.utils.to_categorical(np.asarray(y_val), n_classes)
    weights = class_weights(y_train, n_classes) if class_balance else {c: 1.0 for c in range(n_classes)}
    sample_w = np.array([weights[int(c)] for c in y_train], np.float32)
    rng = np.random.default_rng(seed)
    shape = (*X_train.shape[1:], 1)
    common = dict(n_classes=n_classes, batch_size=batch_size, rng=rng, max_shift=max_shift, progress=progress,
                  label_smoothing=label_smoothing, speed=speed, freq_mask=freq_mask, time_mask=time_mask)
    history: dict = {}
    float_model = None
    model = build_bnn_kws(shape, n_classes, binary=True, **model_kwargs)
    with deterministic_ops():
        if float_epochs:
            float_model = build_bnn_kws(shape, n_classes, binary=False, **model_kwargs)
            h = _fit_epochs(float_model, X_train, y_train, sample_w, X_val, Y_val, epochs=float_epochs,
                            learning_rate=float_learning_rate, **common)
            history.update({f"float_{k}": v for k, v in h.items()})
            if float_eval is not None:
                history.update(float_eval(float_model))
            binary_from_float(float_model, model)
        keep = KeepBest()
        history.update(_fit_epochs(model, X_train, y_train, sample_w, X_val, Y_val, epochs=epochs,
                                   learning_rate=learning_rate, keep=keep, teacher=float_model, distill=distill,
                                   **common))
    history["best_epoch"] = keep.best_epoch
    return model, history


def accuracy(model, X, y, batch_size: int = 256, fold=None) -> float:
    """Top-1 accuracy; fold (an index array) maps each model output to a label first (word classes)."""
    p = np.argmax(model.predict(np.asarray(X, np.float32)[..., None], verbose=0, batch_size=batch_size), axis=1)
    return float(np.mean((p if fold is None else np.asarray(fold)[p]) == np.asarray(y)))


# ---------------------------------------------------------------- word classes


def word_classes_of(y, files, labels, min_clips: int = 8) -> list[str]:
    """The "unknown" words with at least min_clips training clips, sorted: each becomes a class of its
    own in pretraining (``train_bnn_kws(word_classes=True)``)."""
    unk = list(labels).index(UNKNOWN)
    words = [f.split("/", 1)[0] for f, c in zip(files, y) if c == unk]
    return sorted(w for w in set(words) if words.count(w) >= min_clips)


def word_class_targets(y, files, labels, words) -> np.ndarray:
    """Training targets with each word of ``words`` as class len(labels) + its index; other
    unknown clips (a word too rare, or seen only outside the train split) stay "unknown"."""
    labels, index = list(labels), {w: i for i, w in enumerate(words)}
    unk = labels.index(UNKNOWN)
    out = np.asarray(y, np.int64).copy()
    for i, (f, c) in enumerate(zip(files, y)):
        w = f.split("/", 1)[0]
        if c == unk and w in index:
            out[i] = len(labels) + index[w]
    return out


def fold_word_classes(model, X, y, labels, words, seed: int = 0, epochs: int = 40, batch_size: int = 64):
    """The deployed network: the pretrained backbone with a head over ``labels`` only.

    The word-class head is cut off; the new head starts from its rows (the word rows' mean for
    "unknown") and is fit on the frozen embeddings of the training clips X, y (labels indices), with
    class weights. A softmax over the word classes does not fold into one linear row exactly, hence the fit.
    """
    import keras
    from keras import layers

    from .train import class_weights, seed_everything

    seed_everything(seed)
    n, unk = len(labels), list(labels).index(UNKNOWN)
    embedding = model.get_layer("embedding").output
    E = keras.Model(model.input, embedding).predict(np.asarray(X, np.float32)[..., None], batch_size=256, verbose=0)
    W, b = model.get_layer("head").get_weights()
    W0, b0 = W[:, :n].copy(), b[:n].copy()
    W0[:, unk], b0[unk] = W[:, n:].mean(1), b[n:].mean() + np.log(len(words))
    head = layers.Dense(n, activation="softmax", name="head")
    probe = keras.Sequential([keras.Input((E.shape[1],)), head])
    head.set_weights([W0, b0])
    cw = class_weights(y, n)
    probe.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    probe.fit(E, np.asarray(y), sample_weight=np.array([cw[int(c)] for c in y], np.float32), epochs=epochs,
              batch_size=batch_size, shuffle=True, verbose=0)
    return keras.Model(model.input, head(embedding), name=model.name)


def train_bnn_kws(data_dir, labels=BASE_LABELS, epochs: int = BNN_EPOCHS, batch_size: int = 64, seed: int = 0,
                  progress: bool = True, features: FeatureConfig = BNN_FEATURES, exclude_words=NEW_KEYWORDS,
                  float_epochs: int = BNN_FLOAT_EPOCHS, word_classes: bool = False, min_word_clips: int = 8,
                  float_report=None, **fit_kwargs):
    """Train the BNN on data_dir's train split (validation split picks the best epoch).

    Returns (model, history, feature_config): history is a dict of per-epoch lists plus
    best_epoch, train_seconds, n_train, and validation_accuracy / test_accuracy of the kept
    weights, float_validation_accuracy / float_test_accuracy of the full-precision network of
    the first phase (test only if the folder has a test split; its voices are disjoint from
    training). fit_kwargs go to fit_bnn (learning_rate, distill, ...) and build_bnn_kws.

    word_classes: pretrain with every "unknown" word of min_word_clips+ training clips as a class of its own, then
    fold them back into "unknown" for the deployed head (``fold_word_classes``): the embedding
    learns to tell many words apart, not only the labels. Every clip then weighs 1: balanced per
    class, 112 words of ~25 clips took 90% of the loss and the float network barely learned (5.5%
    train accuracy after 3 epochs, against 68% without word classes). history["word_classes"] is their number;
    every accuracy is over ``labels`` (a word class counts as "unknown").

    float_report(float_model, feature_config) -> dict: merged into the history after the float phase
    (bench.bnn_levers measures the float twin's linear-probe bound with it).
    """
    t0 = time.time()
    labels = list(labels)
    data, cfg = load_bnn_data(data_dir, labels, features, exclude_words)
    (X_tr, y_tr, f_tr), (X_va, y_va, f_va) = data["train"], data["validation"]
    missing = sorted(set(range(len(labels))) - set(np.unique(y_tr).tolist()))
    if missing:
        raise ValueError(f"the train split of {data_dir} has no clips of {[labels[i] for i in missing]}")
    words, fold = [], None
    t_tr, t_va = y_tr, y_va
    if word_classes:
        if UNKNOWN not in labels:
            raise ValueError(f"word_classes needs an '{UNKNOWN}' label to fold the words into; labels: {labels}")
        words = word_classes_of(y_tr, f_tr, labels, min_word_clips)
        t_tr, t_va = (word_class_targets(y, f, labels, words) for y, f in ((y_tr, f_tr), (y_va, f_va)))
        fold = np.array(list(range(len(labels))) + [labels.index(UNKNOWN)] * len(words))

    def float_eval(float_model) -> dict:
        out = {"float_validation_accuracy": accuracy(float_model, X_va, y_va, fold=fold)}
        if data["test"] is not None:
            out["float_test_accuracy"] = accuracy(float_model, data["test"][0], data["test"][1], fold=fold)
        if float_report is not None:
            out.update(float_report(float_model, cfg))
        return out

    model, history = fit_bnn(X_tr, t_tr, X_va, t_va, len(labels) + len(words), epochs, batch_size, seed, progress,
                             float_epochs=float_epochs, float_eval=float_eval,
                             class_balance=not word_classes, **fit_kwargs)
    if word_classes:
        history["word_classes"] = len(words)
        history["word_class_validation_accuracy"] = accuracy(model, X_va, t_va)
        model = fold_word_classes(model, X_tr, y_tr, labels, words, seed=seed)
    history["train_seconds"] = round(time.time() - t0, 1)
    history["n_train"] = int(len(y_tr))
    history["validation_accuracy"] = accuracy(model, X_va, y_va)
    if data["test"] is not None:
        history["test_accuracy"] = accuracy(model, data["test"][0], data["test"][1])
    return model, history, cfg


# ---------------------------------------------------------------- saving


def bnn_metadata(model, feature_config: FeatureConfig, labels) -> dict:
    """What the generator needs beside the .keras file (all JSON types)."""
    labels = [str(x) for x in labels]
    n_out = int(model.get_layer("head").units) if "head" in {la.name for la in model.layers} else None
    convs = backbone_layers(model)
    if n_out != len(labels):
        raise ValueError(f"the head has {n_out} classes but {len(labels)} labels were given: {labels}")
    if not feature_config.normalized:
        raise ValueError("feature_config has no normalization statistics (use the one train_bnn_kws returned)")
    frames, mels = feature_config.shape
    if tuple(model.input_shape[1:]) != (frames, mels, 1):
        raise ValueError(f"model input {model.input_shape[1:]} does not match the features' {(frames, mels, 1)}")
    return {
        "format": FORMAT, "version": FORMAT_VERSION,
        "labels": labels,
        "feature_config": feature_config.to_dict(),
        "input": {"layer": model.layers[0].name, "shape": [frames, mels, 1]},
        "backbone": convs,
        "embedding": {"layer": "embedding", "dim": int(convs[-1]["filters"])},
        "head": {"layer": "head", "units": n_out, "activation": "softmax"},
        "binarization": {"rule": "x > 0 -> +1 (bit 1), else -1 (bit 0)", "applies_to": "activations and weights",
                         "same_padding_value": -1},
    }


def save_bnn(model, feature_config: FeatureConfig, labels, path, extra: dict | None = None) -> Path:
    """Write ``path`` (.keras) and ``path.with_suffix(".json")`` (bnn_metadata plus ``extra``, e.g.
    accuracies). Returns the .keras path."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: a BNN is saved as a .keras file")
    meta = bnn_metadata(model, feature_config, labels)
    if extra:
        meta["extra"] = extra
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    write_sidecar(path, meta)
    return path


def train_and_save_bnn(data_dir, path, labels=BASE_LABELS, **train_kwargs) -> dict:
    """train_bnn_kws, then save_bnn at ``path`` with the training report (every scalar of the
    history: accuracies, best_epoch, train_seconds, ...) as the metadata's ``extra``; returns it."""
    model, history, cfg = train_bnn_kws(data_dir, labels, **train_kwargs)
    report = {k: v for k, v in history.items() if not isinstance(v, list)}
    save_bnn(model, cfg, labels, path, extra=report)
    return report


def read_bnn_metadata(path) -> dict:
    """The metadata of a BNN written by save_bnn (labels, feature config, ...) without loading the model."""
    return read_sidecar(path, FORMAT, FORMAT_VERSION, "BNN")


def load_bnn(path):
    """(Keras model, metadata dict) of a BNN written by save_bnn. Safe mode: Keras refuses to run
    code stored in the file (``mcuforge.model.keras_bnn.check_keras_archive`` names what it holds)."""
    import keras

    meta = read_bnn_metadata(path)
    return keras.saving.load_model(Path(path), safe_mode=True), meta


def head_weights(model) -> tuple[np.ndarray, np.ndarray]:
    """The pretrained head as the device stores it: W [classes, embedding] and b [classes], float32."""
    k, b = model.get_layer("head").get_weights()
    return np.ascontiguousarray(k.T, np.float32), np.asarray(b, np.float32)
