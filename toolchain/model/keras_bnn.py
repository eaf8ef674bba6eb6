"""Front end for the binary keyword spotter: a saved Keras BNN (``mcuforge.train.bnn.save_bnn``)
folded into the IR the device runs.

    graph, meta = load_bnn_keras("bnn.keras")   # reads bnn.keras + bnn.json

The network (``mcuforge.train.bnn_layers`` defines the forward semantics) becomes:

    log_mel int8 [1,F,M,1] -> conv2d_threshold -> bconv2d ... -> bconv2d_int8w -> mean_f32 -> embedding
                              (conv0)             (bconvI)      (conv_last)     (GAP)       float32 [1,H]

Folding, layer by layer (b(x) = +1 if x > 0 else -1; BN(z) = k*(z - mean) + beta, k = gamma/sqrt(var+eps)):

- input: per-tensor int8, scale/zero point from ``input_range`` of the normalized features;
  default: from the log floor (log(eps), where silent frames sit; nothing is lower) to +4 std.
  Quantized as the device's front end does (``frontend.reference.quantize_features``).
- conv0 (float Conv2D): per-channel symmetric int8 weights w_q = round(w / s_c), s_c = max|w|/127.
  Its int32 accumulator acc relates to the float conv as z = S_c*acc + bias_c, S_c = s_x*s_c, and
  b(ReLU(BN(z))) = +1 exactly when BN(z) > 0, i.e. k > 0: acc > t; k < 0: acc < t with
  t = ((mean - beta/k) - bias_c) / S_c; so thr = floor(t)+1 (flip 0) or ceil(t)-1 (flip 1);
  gamma == 0 gives a constant bit (beta > 0). Thresholds are clamped to the accumulator's
  range, where "always" and "never" stay representable.
- bconvI (BinaryConv2D): weight bits = latent > 0, packed [O,KH,KW,ceil(C/32)]; the integer dot
  is Keras's float conv output exactly, so the same threshold with S = 1, bias 0.
- conv_last (BinaryInputConv2D): per-channel int8 weights as conv0 (the input is +-1, so the
  accumulator is exact); BN+ReLU become y = max(0, a_c*acc + b_c) in float32 with
  a_c = k*s_c, b_c = beta - k*mean.
- embedding (GlobalAveragePooling2D): mean_f32. The softmax head is not a graph op; its W
  [classes x H] and b go to ``meta`` for the on-device learning extension.

Thresholds are exact in real arithmetic; Keras evaluates BN in float32, so a pre-activation
within float rounding of 0 may binarize differently (measure-zero in practice; tests count it).
The int8 conv0/conv_last weights and the int8 input are the only approximations.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..data.features import FeatureConfig
from ..graph.ir import Graph, Op, Quant, Tensor
from ..graph.lower import lower
from ..ops.bconv2d import pack_bits, words
from ..ops.conv2d import conv_output_size
from ..ops.conv2d_threshold import accumulator_range
from .errors import ModelError

INPUT_HIGH_STD = 4.0  # top of the int8 input range, in std above the mean (log-mel peaks stay below)


class BnnFoldError(ModelError):
    """The .keras file is not a BNN this front end can fold (the message says why)."""


# ---------------------------------------------------------------- quantization pieces


def input_quant(lo: float, hi: float) -> tuple[float, int]:
    """Per-tensor int8 (scale, zero point) covering [lo, hi] (0 exactly representable)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if not hi > lo:
        raise ValueError(f"input range [{lo}, {hi}] is empty")
    scale = float(np.float32((hi - lo) / 255.0))
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return scale, zp


def default_input_range(cfg: FeatureConfig) -> tuple[float, float]:
    """[normalized log(eps), +4 std]: the whole range normalized log-mel features can take below,
    and a generous top (peaks of speech sit near +3 std)."""
    if not cfg.normalized:
        raise BnnFoldError("the feature config has no normalization statistics (mean/std)")
    return (float(np.log(np.float32(cfg.eps)) - cfg.mean) / cfg.std, INPUT_HIGH_STD)


def quantize_per_channel(kernel_ohwi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output channel (axis 0): (w_q int8, scales float64; an all-zero channel gets 1)."""
    k = np.asarray(kernel_ohwi, dtype=np.float64)
    amax = np.abs(k.reshape(k.shape[0], -1)).max(axis=1)
    scales = np.where(amax > 0, amax / 127.0, 1.0)
    scales = scales.astype(np.float32).astype(np.float64)  # stored as float32 in the IR
    q = np.clip(np.round(k / scales.reshape(-1, 1, 1, 1)), -127, 127).astype(np.int8)
    return q, scales


def bn_params(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(k, mean, beta) float64 of a Keras BatchNormalization in inference: BN(z) = k*(z-mean) + beta."""
    c = int(layer.moving_mean.shape[0])
    gamma = np.asarray(layer.gamma.numpy(), np.float64) if layer.scale else np.ones(c)
    beta = np.asarray(layer.beta.numpy(), np.float64) if layer.center else np.zeros(c)
    mean = np.asarray(layer.moving_mean.numpy(), np.float64)
    var = np.asarray(layer.moving_variance.numpy(), np.float64)
    if np.any(var < 0) or not np.isfinite(np.concatenate([gamma, beta, mean, var])).all():
        raise BnnFoldError(f"BatchNormalization '{layer.name}' has a negative variance or non-finite statistics")
    return gamma / np.sqrt(var + float(layer.epsilon)), mean, beta


def fold_threshold(k, mean, beta, acc_scale, acc_bias, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Integer (threshold, flip) with  [BN(acc_scale*acc + acc_bias) > 0] == [acc >= thr] (flip 0)
    or [acc <= thr] (flip 1), for every integer acc in [lo, hi] (per channel arrays)."""
    k, mean, beta = (np.asarray(v, np.float64) for v in (k, mean, beta))
    s = np.broadcast_to(np.asarray(acc_scale, np.float64), k.shape)
    b = np.broadcast_to(np.asarray(acc_bias, np.float64), k.shape)
    lo = np.broadcast_to(np.asarray(lo, np.float64), k.shape)
    hi = np.broadcast_to(np.asarray(hi, np.float64), k.shape)
    if np.any(s <= 0):
        raise BnnFoldError("accumulator scales must be positive")
    thr = np.zeros(k.shape, np.float64)
    flip = np.zeros(k.shape, np.uint8)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = ((mean - beta / k) - b) / s
    pos, neg, zero = k > 0, k < 0, k == 0
    thr[pos] = np.clip(np.floor(t[pos]) + 1, lo[pos], hi[pos] + 1)     # acc > t
    thr[neg] = np.clip(np.ceil(t[neg]) - 1, lo[neg] - 1, hi[neg])      # acc < t
    flip[neg] = 1
    thr[zero] = np.where(beta[zero] > 0, lo[zero], hi[zero] + 1)      # constant +1 / -1
    if thr.min() < -(2**31) or thr.max() >= 2**31:
        raise BnnFoldError("a folded threshold does not fit int32")
    return thr.astype(np.int32), flip


# ---------------------------------------------------------------- the folder


def _ohwi(kernel_hwio) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(np.asarray(kernel_hwio), (3, 0, 1, 2)))


def _conv_out(h: int, w: int, conv: dict) -> tuple[int, int]:
    (kh, kw), (sh, sw) = conv["kernel_size"], conv["strides"]
    return conv_output_size(conv["padding"], h, kh, sh), conv_output_size(conv["padding"], w, kw, sw)


class _Builder:
    def __init__(self, name: str):
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.name = name

    def tensor(self, name, shape, dtype, data=None, quant=None) -> str:
        self.tensors[name] = Tensor(name, tuple(int(d) for d in shape), dtype, quant, data)
        return name

    def op(self, kind, inputs, output, name, **attrs) -> None:
        self.ops.append(Op(kind, list(inputs), [output], attrs, index=len(self.ops), name=name))


def fold_bnn(model, meta: dict, input_range=None) -> tuple[Graph, dict]:
    """Fold a loaded Keras BNN (+ its metadata dict) into a lowered Graph; returns (graph, meta).
    ``input_range``: (lo, hi) of the normalized features the int8 input covers (default
    :func:`default_input_range`)."""
    from ..train.bnn import backbone_layers, head_weights

    try:
        convs = backbone_layers(model)
    except ValueError as e:
        raise BnnFoldError(str(e)) from None
    cfg = FeatureConfig.from_dict(meta["feature_config"])
    labels = [str(x) for x in meta["labels"]]
    shape_in = tuple(int(d) for d in model.input_shape[1:])
    if len(shape_in) != 3 or shape_in[2] != 1:
        raise BnnFoldError(f"model input {shape_in} is not (frames, mels, 1)")
    if tuple(cfg.shape) != shape_in[:2]:
        raise BnnFoldError(f"model input {shape_in} does not match the feature config's {cfg.shape}")

    b = _Builder(model.name)
    input_range = default_input_range(cfg) if input_range is None else tuple(input_range)
    s_x, zp = input_quant(*input_range)
    h, w = shape_in[:2]
    cur = b.tensor("log_mel", (1, h, w, 1), "int8",
                   quant=Quant(np.array([s_x], np.float32), np.array([zp], np.int64)))
    channels = 1
    for i, conv in enumerate(convs):
        layer = model.get_layer(conv["conv"])
        if conv["kind"] == "conv2d":
            _check_plain_conv(layer)
        k, mean, beta = bn_params(model.get_layer(conv["bn"]))
        kernel = layer.get_weights()[0]
        if kernel.shape[2] != channels:
            raise BnnFoldError(f"layer '{layer.name}' expects {kernel.shape[2]} input channels, gets {channels}")
        o = int(kernel.shape[3])
        oh, ow = _conv_out(h, w, conv)
        geo = dict(stride=tuple(conv["strides"]), padding=conv["padding"])
        name = conv["conv"]
        if conv["kind"] == "conv2d":
            w_q, scales = quantize_per_channel(_ohwi(kernel))
            bias = np.asarray(layer.get_weights()[1], np.float64) if layer.use_bias else np.zeros(o)
            lo, hi = accumulator_range(w_q, -zp, None)
            thr, flip = fold_threshold(k, mean, beta, np.float64(np.float32(s_x)) * scales, bias, lo, hi)
            wt = b.tensor(f"{name}/kernel", w_q.shape, "int8", w_q,
                          Quant(scales.astype(np.float32), np.zeros(o, np.int64), 0))
            ins = [cur, wt, b.tensor(f"{name}/threshold", (o,), "int32", thr),
                   b.tensor(f"{name}/flip", (o,), "uint8", flip)]
            out = b.tensor(f"{name}/bits", (1, oh, ow, words(o)), "uint32")
            b.op("conv2d_threshold", ins, out, name, **geo)
        elif conv["kind"] == "bconv2d":
            bits = _ohwi(kernel) > 0
            n = channels * kernel.shape[0] * kernel.shape[1]
            thr, flip = fold_threshold(k, mean, beta, 1.0, 0.0, -n, n)
            ins = [cur, b.tensor(f"{name}/kernel_bits", (o,) + kernel.shape[:2] + (words(channels),), "uint32",
                                 pack_bits(bits)),
                   b.tensor(f"{name}/threshold", (o,), "int32", thr), b.tensor(f"{name}/flip", (o,), "uint8", flip)]
            out = b.tensor(f"{name}/bits", (1, oh, ow, words(o)), "uint32")
            b.op("bconv2d", ins, out, name, in_channels=channels, **geo)
        else:  # bconv2d_int8w
            w_q, scales = quantize_per_channel(_ohwi(kernel))
            a = (k * scales).astype(np.float32)
            off = (beta - k * mean).astype(np.float32)
            ins = [cur, b.tensor(f"{name}/kernel", w_q.shape, "int8", w_q,
                                 Quant(scales.astype(np.float32), np.zeros(o, np.int64), 0)),
                   b.tensor(f"{name}/scale", (o,), "float32", a), b.tensor(f"{name}/offset", (o,), "float32", off)]
            out = b.tensor(f"{name}/relu", (1, oh, ow, o), "float32")
            b.op("bconv2d_int8w", ins, out, name, pad_value=-1, activation="relu", **geo)
        cur, h, w, channels = out, oh, ow, o
    emb = b.tensor("embedding", (1, channels), "float32")
    b.op("mean_f32", [cur], emb, "embedding")

    head_w, head_b = head_weights(model)
    if head_w.shape != (len(labels), channels):
        raise BnnFoldError(f"head weights {head_w.shape} do not match {len(labels)} labels x {channels} embedding")
    graph = Graph(model.name, b.tensors, b.ops, ["log_mel"], [emb])
    lower(graph)
    out_meta = dict(
        labels=labels, feature_config=cfg, head_W=head_w, head_b=head_b, embedding_dim=channels,
        input_scale=s_x, input_zero_point=zp, input_range=tuple(float(v) for v in input_range),
        backbone=convs, metadata=meta,
    )
    return graph, out_meta


def _check_plain_conv(layer) -> None:
    cfg = layer.get_config()
    if tuple(cfg.get("dilation_rate", (1, 1))) != (1, 1) or cfg.get("groups", 1) != 1:
        raise BnnFoldError(f"conv '{layer.name}': dilation {cfg.get('dilation_rate')} / groups {cfg.get('groups')} "
                           "are not supported (1 only)")
    if cfg.get("activation", "linear") != "linear":
        raise BnnFoldError(f"conv '{layer.name}' has a fused activation {cfg['activation']!r}; BN must follow it")


# Keras objects that run code from the file (a Lambda's marshalled bytecode, a SavedModel's graph).
CODE_OBJECTS = {"Lambda": "a Lambda layer holds Python code", "__lambda__": "a lambda function is Python code",
                "TFSMLayer": "a TFSMLayer runs a TensorFlow SavedModel"}


def check_keras_archive(path: Path) -> None:
    """Refuse a .keras file that holds code or objects mcuforge does not know, naming them, before
    Keras deserializes anything: every object in its config.json must be a Keras built-in (module
    ``keras...``) or one of mcuforge's registered BNN objects (``mcuforge>...``)."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, json.JSONDecodeError, OSError) as exc:
        raise BnnFoldError(f"{path}: not a Keras 3 .keras archive with a readable config.json ({exc})") from None

    def visit(node, layer: str) -> None:
        if isinstance(node, list):
            for v in node:
                visit(v, layer)
            return
        if not isinstance(node, dict):
            return
        cls, module, registered = node.get("class_name"), node.get("module"), node.get("registered_name")
        cfg = node.get("config")
        if isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
            layer = cfg["name"]
        where = f"{path.name}: layer '{layer}'" if layer else path.name
        if cls in CODE_OBJECTS:
            raise BnnFoldError(f"{where}: {CODE_OBJECTS[cls]}; mcuforge loads .keras files without running code "
                               "from them (Keras safe mode)")
        if cls is not None:
            known = (module is None or module == "keras" or str(module).startswith("keras.")) and (
                registered in (None, cls))
            ours = str(registered or "").startswith("mcuforge>") and str(module or "").startswith("mcuforge.")
            if not (known or ours):
                raise BnnFoldError(f"{where}: custom object {registered or cls!r} (module {module!r}) is not a Keras "
                                   "built-in or one of mcuforge's BNN layers; mcuforge does not load unknown code")
        for v in node.values():
            visit(v, layer)

    visit(config, "")


def load_bnn_keras(path, input_range=None) -> tuple[Graph, dict]:
    """Read ``path`` (.keras) and its ``.json`` metadata (written by ``save_bnn``) and fold them.

    Returns (graph, meta): the lowered IR graph (input ``log_mel`` int8 [1,F,M,1], output
    ``embedding`` float32 [1,H]) and meta with ``labels``, ``feature_config`` (FeatureConfig),
    ``head_W`` [classes x H] / ``head_b`` float32, ``embedding_dim``, ``input_scale``,
    ``input_zero_point``, ``input_range``, ``backbone`` (conv list) and ``metadata`` (the JSON).
    """
    from ..train.bnn import load_bnn

    path = Path(path)
    if path.suffix != ".keras":
        raise BnnFoldError(f"{path}: a BNN is read from a .keras file (with its .json beside it)")
    if path.is_file():
        check_keras_archive(path)
    model, meta = load_bnn(path)
    graph, out = fold_bnn(model, meta, input_range)
    graph.source_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    if not graph.name or graph.name in ("model", "functional"):
        graph.name = path.stem
    return graph, out


# ---------------------------------------------------------------- running the folded network on the host


def quantize_inputs(features, meta: dict) -> np.ndarray:
    """Normalized float features (clips, F, M) -> int8 model inputs, as the device front end does."""
    from ..frontend.reference import quantize_features

    return quantize_features(features, meta["input_scale"], meta["input_zero_point"])


def folded_embeddings(graph: Graph, inputs_int8, batch: int = 64) -> np.ndarray:
    """Embeddings [clips, H] of the folded network (numpy reference executor, bit-exact with the board),
    ``batch`` clips per numpy pass (the same values as clip by clip, ~10x faster)."""
    from ..reference.executor import run_graph_batch

    x = np.asarray(inputs_int8)
    x = x.reshape((-1,) + x.shape[-2:])
    if len(x) == 0:
        return np.zeros((0, graph.tensors[graph.outputs[0]].size), np.float32)
    return np.concatenate([run_graph_batch(graph, [x[i:i + batch]])[0].reshape(len(x[i:i + batch]), -1)
                           for i in range(0, len(x), batch)])


def head_logits(meta: dict, embeddings) -> np.ndarray:
    """The pretrained float head on embeddings: logits [clips, classes] (argmax = prediction)."""
    e = np.asarray(embeddings, np.float32)
    return e @ meta["head_W"].T + meta["head_b"]


def compare_with_keras(model, graph: Graph, meta: dict, features, labels=None) -> dict:
    """Folded network (int8 input -> numpy executor -> head) vs the Keras model on the same features.

    Returns agreement (fraction of equal predictions), keras/folded accuracy if labels are given,
    and the largest embedding difference relative to the Keras embedding's scale.
    """
    import keras

    feats = np.asarray(features, np.float32)
    emb_keras = keras.Model(model.input, model.get_layer("embedding").output).predict(
        feats[..., None], verbose=0, batch_size=128)
    pred_keras = np.argmax(model.predict(feats[..., None], verbose=0, batch_size=128), axis=1)
    emb = folded_embeddings(graph, quantize_inputs(feats, meta))
    pred = np.argmax(head_logits(meta, emb), axis=1)
    out = dict(n=int(len(feats)), agreement=float(np.mean(pred == pred_keras)),
               embedding_max_rel_diff=float(np.abs(emb - emb_keras).max() / max(np.abs(emb_keras).max(), 1e-12)))
    if labels is not None:
        y = np.asarray(labels)
        out.update(keras_accuracy=float(np.mean(pred_keras == y)), folded_accuracy=float(np.mean(pred == y)))
    return out
