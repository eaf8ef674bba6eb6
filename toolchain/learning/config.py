"""``mf_head_config.h``: the header that sizes and initialises the on-device head
(firmware/learning/), written into the project root by the generator."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..codegen.c_literals import c_const_array, c_float
from .checkpoint import layout_hash, state_bytes
from .rules import BATCHED, RULES, rule_code

VALUES_PER_LINE = 6


@dataclass(frozen=True)
class HeadDefaults:
    """What the head does after boot or LEARN_RESET until the host configures it."""

    rule: str = "tinyol"
    lr: float = 0.01
    batch: int = 8

    @classmethod
    def coerce(cls, defaults: "HeadDefaults | Mapping[str, Any] | None") -> "HeadDefaults":
        """A HeadDefaults from itself, None (the defaults) or a mapping with keys rule, lr,
        batch (``batch_size`` is accepted for batch); unknown keys are an error."""
        if defaults is None:
            return cls()
        if isinstance(defaults, cls):
            d = defaults
        elif isinstance(defaults, Mapping):
            kw = dict(defaults)
            if "batch_size" in kw:
                kw["batch"] = kw.pop("batch_size")
            unknown = set(kw) - {"rule", "lr", "batch"}
            if unknown:
                raise ValueError(f"head defaults: unknown key(s) {sorted(unknown)}; "
                                 f"allowed: rule, lr, batch")
            d = cls(**kw)
        else:
            raise TypeError(f"head defaults must be a HeadDefaults or a mapping, got "
                            f"{type(defaults).__name__}")
        rule_code(d.rule)  # names the known rules when unknown
        if isinstance(d.lr, bool) or not isinstance(d.lr, (int, float, np.floating)) \
                or not math.isfinite(d.lr) or d.lr <= 0:
            raise ValueError(f"head defaults: lr must be a finite number > 0, got {d.lr!r}")
        if isinstance(d.batch, bool) or not isinstance(d.batch, (int, np.integer)) \
                or not 1 <= d.batch <= 65535:
            raise ValueError(f"head defaults: batch must be an integer in 1..65535, got {d.batch!r}")
        return d


def check_head(w, b, max_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The pretrained head as float32 arrays W [classes, dim], b [classes], after checks
    that name the problem."""
    w = np.asarray(w)
    b = np.asarray(b)
    if w.ndim != 2:
        raise ValueError(f"head weights W must be 2-D [classes, dim], got shape {w.shape}")
    if b.ndim != 1 or b.shape[0] != w.shape[0]:
        raise ValueError(f"head bias b must be [classes] = [{w.shape[0]}] to match W {w.shape}, got "
                         f"shape {b.shape} (W is [classes, dim]: transpose a Keras Dense kernel)")
    for name, a in (("W", w), ("b", b)):
        if not np.issubdtype(a.dtype, np.number):
            raise ValueError(f"head {name} must be numeric, got dtype {a.dtype}")
        if not np.all(np.isfinite(a.astype(np.float64))):
            raise ValueError(f"head {name} has non-finite values")
    classes, dim = w.shape
    if classes < 1 or dim < 1:
        raise ValueError(f"head W {w.shape} needs at least one class and one dimension")
    if isinstance(max_classes, bool) or not isinstance(max_classes, (int, np.integer)):
        raise TypeError(f"max_classes must be an integer, got {max_classes!r}")
    if not classes <= max_classes <= 255:
        raise ValueError(f"max_classes must be in {classes}..255 (the {classes} pretrained classes "
                         f"plus those added on the device; class indices travel as u8), got {max_classes}")
    if dim > 65535:
        raise ValueError(f"embedding dimension {dim} exceeds 65535")
    return w.astype(np.float32), b.astype(np.float32)


def model_head(meta: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, int, HeadDefaults]:
    """The on-device head a model's metadata describes, as the generator writes it into
    ``mf_head_config.h``: pretrained W and b, ``max_classes`` (8 more than the labels unless the
    metadata says) and the defaults it boots with."""
    max_classes = int(meta.get("max_classes", len(meta["labels"]) + 8))
    w, b = check_head(np.asarray(meta["head_W"], np.float32), np.asarray(meta["head_b"], np.float32), max_classes)
    return w, b, max_classes, HeadDefaults.coerce(meta.get("learning_defaults") or {})


def render_head_config(w, b, max_classes: int,
                       defaults: HeadDefaults | Mapping[str, Any] | None = None, last_conv: bool = False) -> str:
    """The text of ``mf_head_config.h`` for a pretrained head W [classes, dim] (a Keras
    Dense kernel transposed), b [classes], room for ``max_classes`` classes, and the
    rule/lr/batch the device starts with (``defaults``: HeadDefaults or a mapping);
    ``last_conv``: the embedding comes from the ``last_conv`` extension, which learns with the head."""
    w, b = check_head(w, b, max_classes)
    d = HeadDefaults.coerce(defaults)
    classes, dim = w.shape
    code = rule_code(d.rule)
    layout = layout_hash(w, b, max_classes)
    blob = state_bytes(max_classes, dim)
    batch_note = "" if RULES[code] in BATCHED else " /* unused by the per-sample default rule */"
    return (
        "/* Generated by mcuforge.learning.config.render_head_config: the on-device head\n"
        f" * ({classes} pretrained classes of {dim} inputs, room for {max_classes}).\n"
        f" * Learning state: {blob} bytes of RAM (checkpoint blob). */\n"
        "#ifndef MF_HEAD_CONFIG_H\n#define MF_HEAD_CONFIG_H\n\n"
        f"#define MF_HEAD_MAX_CLASSES {max_classes}u\n"
        f"#define MF_HEAD_DIM {dim}u\n"
        f"#define MF_HEAD_PRETRAINED_CLASSES {classes}u\n"
        f"#define MF_HEAD_DEFAULT_RULE {code}u /* {RULES[code]} */\n"
        f"#define MF_HEAD_DEFAULT_LR {c_float(d.lr)}\n"
        f"#define MF_HEAD_DEFAULT_BATCH {int(d.batch)}u{batch_note}\n"
        f"/* CRC-32 of the dims and pretrained weights: checkpoints restore only onto this head */\n"
        f"#define MF_HEAD_LAYOUT_HASH 0x{layout:08x}u\n"
        + ("/* the embedding: the last_conv extension's, whose slice learns with the head */\n"
           "#define MF_HEAD_LAST_CONV 1\n" if last_conv else "") + "\n"
        "/* Pretrained W [classes x dim] row-major and b; defined only in mf_head.c. */\n"
        "#ifdef MF_HEAD_CONFIG_DEFINE_WEIGHTS\n"
        + c_const_array("float", "mf_head_init_w", w, VALUES_PER_LINE) + "\n"
        + c_const_array("float", "mf_head_init_b", b, VALUES_PER_LINE) + "\n" +
        "#endif\n\n#endif\n")
