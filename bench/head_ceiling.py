"""How far can a head trained on the frozen BNN embedding go? (host-side, on the demo's model and data)

Continual learning in mcuforge trains only the head; the backbone stays frozen in flash. This measures
the ceiling that puts on accuracy, on the demo's voice-disjoint test split:

  probe  a softmax regression fit offline on ALL training clips of the embeddings (standardized,
         3000 full-batch gradient steps): no on-device rule, which sees each clip once, does better
         than a linear classifier that sees all of them to convergence;
  rules  the seven on-device rules (mcuforge.learning.rules.Head, the numpy twin of the firmware's
         head) over a grid of learning rates, stream lengths and passes: the best any setting reaches.

Embeddings come from the Keras model in float (the board's are bit-exact with the folded network,
which differs from Keras by rounding only). Run:  python -m bench.head_ceiling [--demo-dir build/demo]
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


def embeddings(model_path: Path, data_dir: Path) -> dict:
    import keras

    from mcuforge.data.features import FeatureConfig
    from mcuforge.data.speech_commands import load_split
    from mcuforge.train.bnn import BASE_LABELS, NEW_KEYWORDS, head_weights, load_bnn

    model, meta = load_bnn(model_path)
    cfg = FeatureConfig.from_dict(meta["feature_config"])
    labels = list(BASE_LABELS) + list(NEW_KEYWORDS)
    embed = keras.Model(model.input, model.get_layer("embedding").output)
    out = {}
    for split in ("train", "test"):
        X, y, _ = load_split(data_dir, labels, split, features=cfg)
        out[split] = (embed.predict(X[..., None], batch_size=256, verbose=0), y)
    out["head"] = head_weights(model)
    out["pretrained"] = len(BASE_LABELS)
    return out


def _scores(pred, y, pretrained: int) -> dict:
    """Accuracy on the pretrained classes (old), the added ones (new) and all."""
    old, new = y < pretrained, y >= pretrained
    return dict(old=float(np.mean(pred[old] == y[old])), new=float(np.mean(pred[new] == y[new])),
                all=float(np.mean(pred == y)))


def probe(E, classes: int, pretrained: int, steps: int = 3000, lr: float = 0.5, wd: float = 1e-4) -> dict:
    """Offline softmax regression on every training clip of the first ``classes`` classes."""
    (Xtr, ytr), (Xte, yte) = E["train"], E["test"]
    m, mt = ytr < classes, yte < classes
    X, y, Xt, yt = Xtr[m], ytr[m], Xte[mt], yte[mt]
    mu, sd = X.mean(0), X.std(0) + 1e-6
    X, Xt = (X - mu) / sd, (Xt - mu) / sd
    W, b, Y = np.zeros((classes, X.shape[1])), np.zeros(classes), np.eye(classes)[y]
    for _ in range(steps):
        z = X @ W.T + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = p - Y
        W -= lr * (g.T @ X / len(X) + wd * W)
        b -= lr * g.mean(0)
    return _scores(np.argmax(Xt @ W.T + b, 1), yt, pretrained)


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


def run(demo_dir: Path, progress: bool = True) -> list[list]:
    from mcuforge.learning.rules import RULES

    model, data = demo_dir / "bnn.keras", demo_dir / "data"
    if not model.is_file() or not data.is_dir():
        raise FileNotFoundError(f"{demo_dir}: needs bnn.keras and data/ from 'make demo'")
    E = embeddings(model, data)
    rows = []
    for scenario, n_new in SCENARIOS:
        p = probe(E, E["pretrained"] + n_new, E["pretrained"])
        runs = []
        for setting in GRID:
            for rule in RULES:
                runs.append((rule_run(E, rule, n_new, *setting), rule, setting))
            if progress:
                print(f"  {scenario}: {setting} done", file=sys.stderr, flush=True)
        for metric in ("all", "old", "new"):
            r, rule, (tn, to, lr, passes) = max(runs, key=lambda t: t[0][metric])
            rows.append([scenario, metric, f"{100 * p[metric]:.1f}%", f"{100 * r[metric]:.1f}%",
                         f"{rule}, {tn} new/{to} old clips, lr {lr}, {passes} pass(es)", len(runs)])
    return rows


def print_report(demo_dir: Path) -> None:
    from mcuforge.commands._common import table

    print("\nhead-only learning on the frozen BNN embedding (host, voice-disjoint test split; "
          "baseline: an offline softmax regression)")
    table(run(demo_dir), ["scenario", "metric", "offline probe", "best rule run", "its setting", "runs"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.head_ceiling", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo-dir", default="build/demo", help="where 'make demo' left bnn.keras and data/")
    args = ap.parse_args(argv)
    print_report(Path(args.demo_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
