"""How far can a head trained on the frozen BNN embedding go? (host-side, on the demo's model and data)

Continual learning in mcuforge trains only the head; the backbone stays frozen in flash. This measures
the ceiling that puts on accuracy, on the demo's voice-disjoint test split:

  probe  a softmax regression fit offline on ALL training clips of the embeddings (standardized,
         full-batch gradient descent), its weight decay and number of steps chosen on the validation
         split (PROBE_DECAYS x PROBE_STEPS), then scored once on the test split: no on-device rule,
         which sees each clip once, does better than a linear classifier that sees all of them;
  rules  the seven on-device rules (mcuforge.learning.rules.Head, the numpy twin of the firmware's
         head) over a grid of learning rates, stream lengths and passes: the best any setting reaches
         on the test split (an optimistic pick, labelled as such).

Embeddings are the board's: the numpy executor of the folded network (int8 first and last conv,
binary convs), which the board matches bit for bit (tests/test_bnn_fold_target.py), on the int8
features the front end's numpy twin gives. Not the float Keras model's.
Run:  python -m bench.head_ceiling [--demo-dir build/demo]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

# (clips per new word, clips per old class, learning rate, passes over the stream)
GRID = [(40, 6, 0.05, 1), (40, 6, 0.02, 1), (40, 6, 0.1, 1), (100, 15, 0.05, 1), (40, 6, 0.05, 3),
        (200, 30, 0.05, 1), (200, 30, 0.02, 1)]
SCENARIOS = (("1 new", 1), ("4 new", 4))
PROBE_DECAYS = (0.0, 1e-4, 1e-3, 1e-2)
PROBE_STEPS = (250, 500, 1000, 2000, 4000)  # checkpoints of one run per decay
SPLITS = ("train", "validation", "test")


def embeddings(model_path: Path, data_dir: Path, progress: bool = False) -> dict:
    from mcuforge.data.speech_commands import load_split
    from mcuforge.model.keras_bnn import folded_embeddings, load_bnn_keras, quantize_inputs
    from mcuforge.train.bnn import BASE_LABELS, NEW_KEYWORDS

    graph, meta = load_bnn_keras(model_path)
    labels = list(BASE_LABELS) + list(NEW_KEYWORDS)
    out = {}
    for split in SPLITS:
        X, y, _ = load_split(data_dir, labels, split, features=meta["feature_config"])
        if progress:
            print(f"  {split}: {len(y)} clips through the folded network", file=sys.stderr, flush=True)
        # the board's embedding: int8 inputs as its front end makes them, the folded network bit-exact
        out[split] = (folded_embeddings(graph, quantize_inputs(np.asarray(X, np.float32), meta)).astype(np.float32), y)
    out["head"] = (np.asarray(meta["head_W"], np.float32), np.asarray(meta["head_b"], np.float32))
    out["pretrained"] = len(BASE_LABELS)
    return out


def float_embeddings(float_model, data_dir: Path, feature_config) -> dict:
    """The embeddings of a BNN's full-precision twin (the float network its binary phase starts
    from, :func:`mcuforge.train.bnn.fit_bnn`) on every split, in the same form as
    :func:`embeddings` without the head: what the probe reaches with binarization taken away."""
    import keras

    from mcuforge.data.speech_commands import load_split
    from mcuforge.train.bnn import BASE_LABELS, NEW_KEYWORDS

    net = keras.Model(float_model.input, float_model.get_layer("embedding").output)
    out = {}
    for split in SPLITS:
        X, y, _ = load_split(data_dir, list(BASE_LABELS) + list(NEW_KEYWORDS), split, features=feature_config)
        out[split] = (net.predict(np.asarray(X, np.float32)[..., None], batch_size=256, verbose=0), y)
    out["pretrained"] = len(BASE_LABELS)
    return out


def _scores(pred, y, pretrained: int) -> dict:
    """Accuracy on the pretrained classes (old), the added ones (new) and all."""
    old, new = y < pretrained, y >= pretrained
    return dict(old=float(np.mean(pred[old] == y[old])), new=float(np.mean(pred[new] == y[new])),
                all=float(np.mean(pred == y)))


def probe(E, classes: int, pretrained: int, decays=PROBE_DECAYS, steps=PROBE_STEPS, lr: float = 0.5) -> dict:
    """Offline softmax regression on every training clip of the first ``classes`` classes; weight
    decay and step count are those with the best validation accuracy, scored on the test split.
    Returns the test scores (old/new/all) and the chosen ``decay``, ``steps``, ``validation``."""
    def subset(split):
        X, y = E[split]
        m = y < classes
        return X[m], y[m]

    (X, y), (Xv, yv), (Xt, yt) = subset("train"), subset("validation"), subset("test")
    mu, sd = X.mean(0), X.std(0) + 1e-6
    X, Xv, Xt = (X - mu) / sd, (Xv - mu) / sd, (Xt - mu) / sd
    Y = np.eye(classes)[y]
    best = None
    for wd in decays:
        W, b = np.zeros((classes, X.shape[1])), np.zeros(classes)
        for n in range(1, max(steps) + 1):
            z = X @ W.T + b
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            g = p - Y
            W -= lr * (g.T @ X / len(X) + wd * W)
            b -= lr * g.mean(0)
            if n in steps:
                val = float(np.mean(np.argmax(Xv @ W.T + b, 1) == yv))
                if best is None or val > best[0]:
                    best = (val, wd, n, W.copy(), b.copy())
    val, wd, n, W, b = best
    return dict(_scores(np.argmax(Xt @ W.T + b, 1), yt, pretrained), decay=wd, steps=n, validation=val)


def rule_run(E, rule: str, n_new: int, train_new: int, train_old: int, lr: float, passes: int, seed: int = 0) -> dict:
    from mcuforge.learning.rules import Head

    (Xtr, ytr), (Xte, yte) = E["train"], E["test"]
    pretrained = E["pretrained"]
    classes = pretrained + n_new
    rng = np.random.default_rng(seed)

    def pick(per, cs):
        return [i for c in cs for i in rng.choice(np.flatnonzero(ytr == c), size=min(per, int(np.sum(ytr == c))),
                                                  replace=False)]

    stream = np.array(pick(train_old, range(pretrained)) + pick(train_new, range(pretrained, classes)))
    head = Head(*E["head"], max_classes=classes, rule=rule, lr=lr, batch=8)
    for _ in range(n_new):
        head.add_class()
    for _ in range(passes):
        rng.shuffle(stream)
        for i in stream:
            head.train(Xtr[i], int(ytr[i]))
    te = np.flatnonzero(yte < classes)
    return _scores(np.array([head.predict(Xte[i])[0] for i in te]), yte[te], pretrained)


def bounds(E: dict) -> dict:
    """{scenario: probe scores} of embeddings ``E`` (:func:`embeddings` or :func:`float_embeddings`)."""
    return {scenario: probe(E, E["pretrained"] + n_new, E["pretrained"]) for scenario, n_new in SCENARIOS}


def probe_scores(model: Path, data: Path, progress: bool = False) -> dict:
    """{scenario: probe scores} of one BNN on one dataset: the linear-probe bound alone (no rule runs)."""
    return bounds(embeddings(model, data, progress))


def float_probe_scores(float_model, data: Path, feature_config) -> dict:
    """The same bound for a BNN's float twin (:func:`float_embeddings`): binarization taken away."""
    return bounds(float_embeddings(float_model, data, feature_config))


def run(demo_dir: Path, progress: bool = True, model: Path | None = None, data: Path | None = None,
        grid=GRID) -> list[list]:
    from mcuforge.learning.rules import RULES

    model, data = model or demo_dir / "bnn.keras", data or demo_dir / "data"
    if not model.is_file() or not data.is_dir():
        raise FileNotFoundError(f"needs a BNN {model} and a dataset folder {data} (both from 'make demo')")
    E = embeddings(model, data, progress)
    rows = []
    for scenario, n_new in SCENARIOS:
        p = probe(E, E["pretrained"] + n_new, E["pretrained"])
        runs = []
        for setting in grid:
            for rule in RULES:
                runs.append((rule_run(E, rule, n_new, *setting), rule, setting))
            if progress:
                print(f"  {scenario}: {setting} done", file=sys.stderr, flush=True)
        for metric in ("all", "old", "new"):
            best = max(runs, key=lambda t: t[0][metric]) if runs else None
            rows.append([scenario, metric, f"{100 * p[metric]:.1f}%", f"decay {p['decay']:g}, {p['steps']} steps",
                         *((f"{100 * best[0][metric]:.1f}%",
                            "{}, {} new/{} old clips, lr {}, {} pass(es)".format(best[1], *best[2]))
                           if best else ("-", "not run (--probe-only)")), len(runs)])
    return rows


def print_report(demo_dir: Path, model: Path | None = None, data: Path | None = None, grid=GRID) -> None:
    from mcuforge.commands._common import table

    print("\nhead-only learning on the board's frozen BNN embedding (bit-exact numpy of the folded network; "
          "voice-disjoint test split; baseline: an offline softmax regression tuned on the validation split)")
    table(run(demo_dir, model=model, data=data, grid=grid),
          ["scenario", "metric", "offline probe", "probe setting (validation)", "best rule run (best on test)",
           "its setting", "runs"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.head_ceiling", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo-dir", default="build/demo", help="where 'make demo' left bnn.keras and data/")
    ap.add_argument("--model", type=Path, help="another BNN .keras (default DEMO_DIR/bnn.keras)")
    ap.add_argument("--data", type=Path, help="another dataset folder (default DEMO_DIR/data)")
    ap.add_argument("--probe-only", action="store_true", help="the offline probe only, no rule runs")
    args = ap.parse_args(argv)
    print_report(Path(args.demo_dir), args.model, args.data, grid=() if args.probe_only else GRID)
    return 0


if __name__ == "__main__":
    sys.exit(main())
