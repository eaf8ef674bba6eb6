"""``mcuforge train``: train a model on a keyword dataset (any folder in the Speech Commands layout).

  dscnn-kws  int8 DS-CNN (TFLite) — the foundation's keyword spotter
  bnn-kws    binary neural network backbone + float head (.keras) for on-device continual learning
  rnn        FastGRNN / LSTM / GRU time-series classifier, optionally EMI-RNN (multiple-instance
             windows that stop early), on aeon:NAME, a .npz of sequences or a keyword folder
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from ..train import BNN_EPOCHS, BNN_FLOAT_EPOCHS, check_bnn_schedule
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
        k.add_argument("--epochs", type=_common.positive_int, default=epochs, help=f"training epochs (default {epochs})")
        k.add_argument("--batch-size", type=_common.positive_int, default=64)
        k.add_argument("--seed", type=_common.natural_int, default=0)
        _common.add_json(k, "the training report")
        if kind == "bnn-kws":
            k.add_argument("--float-epochs", type=_common.natural_int, default=BNN_FLOAT_EPOCHS,
                           help=f"full-precision epochs before the binary ones (default {BNN_FLOAT_EPOCHS})")
            k.add_argument("--distill", type=float, default=0.0,
                           help="binary phase: weight of the full-precision network's predictions in the "
                                "targets, 0..1 (default 0: labels only)")
            k.add_argument("--word-classes", action="store_true",
                           help="pretrain each 'unknown' word (8+ training clips) as a class of its own, folded "
                                "back into 'unknown' for the deployed head: an embedding that tells words apart "
                                "(build the data with 'data kws --unknown-words N')")
        k.set_defaults(func=run_dscnn if kind == "dscnn-kws" else run_bnn)
    _add_rnn(kinds)


def _add_rnn(kinds) -> None:
    from ..train.rnn import CELLS, RnnConfig

    d = RnnConfig()
    k = kinds.add_parser("rnn", help="train an RNN time-series classifier (EMI-RNN with --emi)",
                         description=_common.doc(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    k.add_argument("--data", required=True,
                   help="aeon:NAME (a set inside the aeon package, e.g. aeon:BasicMotions), FILE.npz "
                        "(X [N,T,d], y [N], optional split, labels, negative) or a keyword dataset folder")
    k.add_argument("--cell", choices=CELLS, default=d.cell, help=f"recurrent cell (default {d.cell})")
    k.add_argument("--hidden", type=_common.positive_int, default=d.hidden, help=f"hidden units (default {d.hidden})")
    k.add_argument("--window", type=_common.positive_int, default=d.window, help=f"steps per instance window (default {d.window})")
    k.add_argument("--stride", type=_common.positive_int, default=d.stride, help=f"steps between windows (default {d.stride})")
    k.add_argument("--emi", action="store_true",
                   help="EMI-RNN: multiple-instance relabelling rounds and early exit (needs a negative class)")
    k.add_argument("--rank", type=_common.positive_int, default=None,
                   help="FastGRNN: low-rank W and U of this rank (default: full rank)")
    k.add_argument("--sparsity", type=float, default=0.0,
                   help="FastGRNN: fraction of W/U entries hard-thresholded to zero (default 0)")
    k.add_argument("--rounds", type=_common.positive_int, default=d.rounds, help=f"MI-RNN rounds with --emi (default {d.rounds})")
    k.add_argument("--epochs", type=_common.positive_int, default=d.epochs, help=f"epochs per round (default {d.epochs})")
    k.add_argument("--k", type=_common.positive_int, default=d.k, help=f"consecutive windows that decide a bag (default {d.k})")
    k.add_argument("--p-hat", type=float, default=d.p_hat, help=f"early-exit probability (default {d.p_hat})")
    k.add_argument("--kappa", type=_common.positive_int, default=d.kappa, help=f"check the exit every kappa steps (default {d.kappa})")
    k.add_argument("--negative-only-exit", action="store_true", help="exit early only on the negative class")
    k.add_argument("--no-early-exit", action="store_true",
                   help="with --emi: MI-RNN alone (relabelling rounds and the bag rule; last-step loss, no exit)")
    k.add_argument("--batch-size", type=_common.positive_int, default=d.batch_size)
    k.add_argument("--seed", type=_common.natural_int, default=0)
    k.add_argument("-o", "--out", required=True, help="output model (.rnn.keras, with a .json beside it)")
    _common.add_json(k, "the training report")
    k.set_defaults(func=run_rnn)


def _checked(args, suffix: str, what: str) -> tuple[Path, list[str]]:
    """-o, --classes and the dataset's layout, checked before TensorFlow loads (~20 s): (out, labels)."""
    from ..data.speech_commands import list_split

    out = Path(args.out)
    if out.suffix != suffix:
        raise UsageError(f"-o {out}: {what}")
    if out.is_dir():
        raise UsageError(f"-o {out} is a folder; give a file name")
    labels = [c.strip() for c in args.classes.split(",") if c.strip()]
    if len(labels) < 2:
        raise UsageError(f"--classes needs at least two labels, got {labels}")
    list_split(args.data, labels, "train")  # the folder, its layout and a folder per label, without audio
    return out, labels


def run_dscnn(args) -> int:
    out, labels = _checked(args, ".tflite", "the DS-CNN is written as an int8 .tflite file")
    from ..data.features import FeatureConfig
    from ..train.pipeline import train_and_convert

    r = train_and_convert(args.data, labels, out_dir=None, epochs=args.epochs, batch_size=args.batch_size,
                          seed=args.seed, features=FeatureConfig(hop=160),
                          progress=_common.progress())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(r["tflite"])
    r["feature_config"].save(out.with_suffix(".features.json"))
    report = dict(r["report"], model=str(out), labels=r["labels"])
    print(f"wrote {out}: " + ", ".join(f"{k} {v:.4f}" for k, v in report.items() if "accuracy" in k))
    _common.write_json(args.json, report)
    return 0


def run_bnn(args) -> int:
    out, labels = _checked(args, ".keras", "the BNN is written as a .keras file (with a .json beside it)")
    check_bnn_schedule(args.epochs, args.batch_size, args.float_epochs, args.distill)
    from ..train.bnn import train_and_save_bnn

    report = train_and_save_bnn(args.data, out, labels, epochs=args.epochs, batch_size=args.batch_size,
                                seed=args.seed, float_epochs=args.float_epochs, distill=args.distill,
                                word_classes=args.word_classes)
    print(f"wrote {out} (+ {out.with_suffix('.json').name}): "
          + ", ".join(f"{k} {v:.4f}" for k, v in report.items() if "accuracy" in k))
    _common.write_json(args.json, dict(report, model=str(out), labels=labels))
    return 0


def run_rnn(args) -> int:
    from ..data.sequences import load_sequences
    from ..train.rnn import RnnConfig, save_rnn, train_rnn

    out = Path(args.out)
    if not out.name.endswith(".keras"):
        raise UsageError(f"-o {out}: the RNN is written as a .keras file (e.g. model.rnn.keras)")
    cfg = RnnConfig(cell=args.cell, hidden=args.hidden, window=args.window, stride=args.stride, emi=args.emi,
                    rank=args.rank, sparsity=args.sparsity, rounds=args.rounds, epochs=args.epochs,
                    batch_size=args.batch_size, k=args.k, p_hat=args.p_hat, kappa=args.kappa,
                    negative_only_exit=args.negative_only_exit, early_exit=not args.no_early_exit, seed=args.seed)
    data = load_sequences(args.data, seed=args.seed)
    model, report = train_rnn(data, cfg, progress=sys.stderr.isatty())
    save_rnn(model, cfg, data, out, report)
    shown = {k: v for k, v in report.items() if k.endswith(("accuracy", "mean_steps"))}
    print(f"wrote {out} (+ {out.with_suffix('.json').name}): {report['nonzero_params']:,} nonzero parameters, "
          + ", ".join(f"{k} {v:.4f}" for k, v in shown.items()))
    _common.write_json(args.json, dict(report, model=str(out), labels=data.labels))
    return 0
