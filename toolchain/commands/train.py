"""``mcuforge train``: train a model on a keyword dataset (any folder in the Speech Commands layout).

  dscnn-kws  int8 DS-CNN (TFLite) — the foundation's keyword spotter
  bnn-kws    binary neural network backbone + float head (.keras) for on-device continual learning
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..train import BNN_EPOCHS, BNN_FLOAT_EPOCHS
from . import _common

BASE = "silence,unknown,yes,no,up,down,left,right,on,off,stop,go"


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a keyword model: dscnn-kws (int8 TFLite) or bnn-kws (BNN .keras)",
                       description=_common.doc(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, out_help, epochs in (("dscnn-kws", "output .tflite", 12), ("bnn-kws", "output .keras", BNN_EPOCHS)):
        k = kinds.add_parser(kind, help=f"train {kind}", description=_common.doc(__doc__),
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        k.add_argument("--data", required=True, help="dataset folder (Speech Commands layout; 'mcuforge data kws')")
        k.add_argument("--classes", default=BASE, help=f"comma-separated labels (default {BASE})")
        k.add_argument("-o", "--out", required=True, help=out_help)
        k.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default {epochs})")
        k.add_argument("--batch-size", type=int, default=64)
        k.add_argument("--seed", type=int, default=0)
        _common.add_json(k, "the training report")
        if kind == "bnn-kws":
            k.add_argument("--float-epochs", type=int, default=BNN_FLOAT_EPOCHS,
                           help=f"full-precision epochs before the binary ones (default {BNN_FLOAT_EPOCHS})")
            k.add_argument("--distill", type=float, default=0.0,
                           help="binary phase: weight of the full-precision network's predictions in the "
                                "targets, 0..1 (default 0: labels only)")
        k.set_defaults(func=run_dscnn if kind == "dscnn-kws" else run_bnn)


def _labels(args) -> list[str]:
    labels = [c.strip() for c in args.classes.split(",") if c.strip()]
    if len(labels) < 2:
        raise ValueError(f"--classes needs at least two labels, got {labels}")
    return labels


def run_dscnn(args) -> int:
    from ..data.features import FeatureConfig
    from ..train.pipeline import train_and_convert

    out = Path(args.out)
    if out.suffix != ".tflite":
        raise ValueError(f"{out}: the DS-CNN is written as an int8 .tflite file")
    r = train_and_convert(args.data, _labels(args), out_dir=None, epochs=args.epochs, batch_size=args.batch_size,
                          seed=args.seed, features=FeatureConfig(hop=160))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(r["tflite"])
    r["feature_config"].save(out.with_suffix(".features.json"))
    report = dict(r["report"], model=str(out), labels=r["labels"])
    print(f"wrote {out}: " + ", ".join(f"{k} {v:.4f}" for k, v in report.items() if "accuracy" in k))
    _common.write_json(args.json, report)
    return 0


def run_bnn(args) -> int:
    from ..train.bnn import save_bnn, train_bnn_kws

    out = Path(args.out)
    if out.suffix != ".keras":
        raise ValueError(f"{out}: the BNN is written as a .keras file (with a .json beside it)")
    labels = _labels(args)
    model, history, cfg = train_bnn_kws(args.data, labels, epochs=args.epochs, batch_size=args.batch_size,
                                        seed=args.seed, float_epochs=args.float_epochs,
                                        distill=args.distill)
    report = {k: v for k, v in history.items() if not isinstance(v, list)}
    save_bnn(model, cfg, labels, out, extra=report)
    print(f"wrote {out} (+ {out.with_suffix('.json').name}): "
          + ", ".join(f"{k} {v:.4f}" for k, v in report.items() if "accuracy" in k))
    _common.write_json(args.json, dict(report, model=str(out), labels=labels))
    return 0
