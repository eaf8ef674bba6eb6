"""Which pretraining lever raises the linear-probe bound of the BNN embedding? (issue 16 §1)

Each lever is a dataset recipe plus a training recipe. For every lever asked for, this builds its
dataset, pretrains the BNN and measures, on the board's folded network (bench/head_ceiling.py):
the backbone's test accuracy on the 12 base classes, and the offline linear probe over 16 classes
(12 base + zero..three) on the voice-disjoint test split, both on the lever's own dataset and on
the demo's (the default recipe: the same voices and splits, so every lever is scored on the same
kind of clips). One pretraining takes about an hour on 2 idle cores; results are kept in
WORK/<lever>/result.json and reused, so the table is printed again without training.

    python -m bench.bnn_levers [--levers baseline,word-classes] [--work build/levers]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mcuforge.train import BNN_EPOCHS, BNN_FLOAT_EPOCHS

# name: (what it changes, build_kws_dataset kwargs, train_bnn_kws kwargs)
LEVERS = {
    "baseline": ("the demo's recipe: 32 unknown words folded into one class, 15 + 40 epochs", {},
                 dict(float_epochs=BNN_FLOAT_EPOCHS, epochs=BNN_EPOCHS)),
    "word-classes": ("112 unknown words (18 clips per voice), each its own class in pretraining (every clip "
                     "weighs 1); 10 + 26 epochs (the baseline's number of steps on 1.5x the clips)",
                     dict(unknown_words=112, unknown_per_voice=18),
                     dict(word_classes=True, float_epochs=10, epochs=26)),
    "augment": ("the demo's data and schedule; every epoch's clips also played up to 10% faster or slower and "
                "masked SpecAugment-style (one band of up to 8 mel bands, one span of up to 10 frames)", {},
                dict(float_epochs=BNN_FLOAT_EPOCHS, epochs=BNN_EPOCHS, speed=0.1, freq_mask=8, time_mask=10)),
    "distill": ("the demo's data and schedule; in the binary phase the targets are half the labels, half the "
                "float twin's softmax on the same augmented clips (distillation at temperature 1)", {},
                dict(float_epochs=BNN_FLOAT_EPOCHS, epochs=BNN_EPOCHS, distill=0.5)),
}
# The two levers that each raised the bound, together: do their gains add?
LEVERS["word-classes+augment"] = (
    "word classes' data and schedule with augment's speed perturbation and masks",
    LEVERS["word-classes"][1], {**LEVERS["word-classes"][2], **{k: v for k, v in LEVERS["augment"][2].items()
                                                               if k not in ("float_epochs", "epochs")}})
LEVERS["word-classes+augment+emb256"] = (
    "the two together with a 256-wide embedding (conv_last and the head twice as wide; 64 KB more flash)",
    LEVERS["word-classes"][1], {**LEVERS["word-classes+augment"][2], "embedding_dim": 256})
# Float networks only (--float-only: the float phase, no binary one): does the float bound itself reach 90%?
LEVERS["float-long"] = ("the baseline's float network trained 40 epochs instead of 15", {}, dict(float_epochs=40))
LEVERS["float-wide"] = ("the baseline's float network twice as wide (256/512/512 channels, a 256-wide embedding)",
                        {}, dict(widths=(256, 512, 512), embedding_dim=256, float_epochs=BNN_FLOAT_EPOCHS))
HEADERS = ["lever", "backbone test (12)", "probe 16 all (demo data)", "old", "new", "probe 16 all (own data)",
           "float twin's probe 16 all (demo data)", "train s", "what changes"]


def dataset(work: Path, kwargs: dict) -> Path:
    from mcuforge.data.kws import build_kws_dataset

    name = "data-" + ("-".join(f"{k}{v}" for k, v in sorted(kwargs.items())) or "demo")
    build_kws_dataset(work / name, progress=sys.stderr.isatty(), **kwargs)
    return work / name


def measure(name: str, work: Path) -> dict:
    """Train (unless WORK/NAME/bnn.keras exists) and probe one lever; the result is also saved."""
    from bench.head_ceiling import float_probe_scores, probe_scores
    from mcuforge.train.bnn import BASE_LABELS, read_bnn_metadata, train_and_save_bnn

    _, data_kwargs, train_kwargs = LEVERS[name]
    out = work / name
    model = out / "bnn.keras"
    own, demo = dataset(work, data_kwargs), dataset(work, {})

    def float_probe(float_model, cfg) -> dict:  # the bound without binarization, on the demo's data
        return {"float_probe_demo_data": float_probe_scores(float_model, demo, cfg)}

    if not model.is_file():
        train_and_save_bnn(own, model, BASE_LABELS, progress=sys.stderr.isatty(), float_report=float_probe,
                           **train_kwargs)
    extra = read_bnn_metadata(model).get("extra", {})
    on_demo = probe_scores(model, demo)
    on_own = on_demo if own == demo else probe_scores(model, own)  # the baseline's own data is the demo's
    result = dict(lever=name, model=str(model), train=train_kwargs, data=data_kwargs,
                  test_accuracy=extra.get("test_accuracy"), train_seconds=extra.get("train_seconds"),
                  probe_demo_data=on_demo, probe_own_data=on_own,
                  float_probe_demo_data=extra.get("float_probe_demo_data"))
    (out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


class _FloatPhaseDone(Exception):
    pass


def measure_float(name: str, work: Path) -> dict:
    """The float phase of one lever only, and its float network's probe on the demo's data (no
    binary phase: train_bnn_kws stops once it has handed the float network over)."""
    import time

    from bench.head_ceiling import float_probe_scores
    from mcuforge.train.bnn import BASE_LABELS, train_bnn_kws

    _, data_kwargs, train_kwargs = LEVERS[name]
    own, demo = dataset(work, data_kwargs), dataset(work, {})
    got = {}

    def float_probe(float_model, cfg) -> dict:
        got["probe"] = float_probe_scores(float_model, demo, cfg)
        raise _FloatPhaseDone

    t0 = time.time()
    try:
        train_bnn_kws(own, BASE_LABELS, progress=sys.stderr.isatty(), float_report=float_probe,
                      **{**train_kwargs, "epochs": 1})
    except _FloatPhaseDone:
        pass
    result = dict(lever=name, float_only=True, train=train_kwargs, data=data_kwargs,
                  train_seconds=round(time.time() - t0, 1), float_probe_demo_data=got["probe"])
    (work / name).mkdir(parents=True, exist_ok=True)
    (work / name / "float.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def row(r: dict) -> list:
    pct = lambda x: "-" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    none = {"4 new": {}}  # a float-only run has no BNN probes
    d, o = r.get("probe_demo_data", none)["4 new"], r.get("probe_own_data", none)["4 new"]
    f = (r.get("float_probe_demo_data") or {}).get("4 new", {})  # levers measured before it was kept: -
    return [r["lever"], pct(r.get("test_accuracy")), pct(d.get("all")), pct(d.get("old")), pct(d.get("new")),
            pct(o.get("all")), pct(f.get("all")), r["train_seconds"], LEVERS.get(r["lever"], ("?",))[0]]


def main(argv=None) -> int:
    from mcuforge.commands._common import table

    ap = argparse.ArgumentParser(prog="python -m bench.bnn_levers", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levers", default=",".join(LEVERS), help=f"comma-separated, of {', '.join(LEVERS)}")
    ap.add_argument("--work", type=Path, default=Path("build/levers"), help="datasets, models, results")
    ap.add_argument("--table", action="store_true", help="print the saved results only (no training)")
    ap.add_argument("--float-only", action="store_true",
                    help="train only the float phase and probe the float network (no BNN): the float bound")
    args = ap.parse_args(argv)
    names = [n for n in args.levers.split(",") if n]
    bad = [n for n in names if n not in LEVERS]
    if bad:
        ap.error(f"unknown lever(s) {bad}; levers: {', '.join(LEVERS)}")
    results = []
    for n in names:
        saved = args.work / n / ("float.json" if args.float_only else "result.json")
        if args.table:
            if saved.is_file():
                results.append(json.loads(saved.read_text()))
            continue
        results.append((measure_float if args.float_only else measure)(n, args.work))
    print("\nBNN pretraining levers: the linear-probe bound over 16 classes (4 new keywords) on the frozen, "
          "folded embedding; voice-disjoint test split")
    table([row(r) for r in results], HEADERS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
