"""Keyword spotting end to end on the host: train -> int8 TFLite -> accuracy under TFLM.

The saved folder is what the firmware side needs:
    model.tflite      int8 model (input and output int8)
    model.keras       the float model
    features.json     FeatureConfig with the normalization statistics
    labels.txt        class names, one per line, in output order
    test_int8.npz     X (int8 model inputs), y, files: the clips the board is validated on
    report.json       float and int8 accuracies, sizes, training history
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..data.features import FeatureConfig
from ..data.speech_commands import DEFAULT_LABELS
from .convert import evaluate_tflite, quantize_input, to_int8_tflite
from .train import fit_dscnn, load_normalized


def float_accuracy(model, X, y) -> float:
    p = model.predict(np.asarray(X, np.float32)[..., None], verbose=0, batch_size=256)
    return float(np.mean(np.argmax(p, axis=1) == np.asarray(y)))


def train_and_convert(data_dir, labels=DEFAULT_LABELS, out_dir=None, epochs: int = 12, batch_size: int = 64,
                      seed: int = 0, progress: bool = True, features: FeatureConfig | None = None,
                      **fit_kwargs) -> dict:
    """Train a DS-CNN, convert it to int8 and measure float vs int8 (TFLM) accuracy.

    Returns a dict: model, tflite (bytes), feature_config, labels, X_test_int8, y_test,
    test_files, report (accuracies etc.). Accuracies are on the test split when the folder has
    one, else on the validation split (report["eval_split"] says which). Saves the files listed
    in the module docstring when out_dir is given.
    """
    t0 = time.time()
    labels = list(labels)
    data, cfg = load_normalized(data_dir, labels, features or FeatureConfig())
    (X_tr, y_tr, _), (X_va, y_va, f_va) = data["train"], data["validation"]
    model, history = fit_dscnn(X_tr, y_tr, X_va, y_va, len(labels), epochs, batch_size, seed, progress,
                               **fit_kwargs)
    t_fit = time.time() - t0
    eval_split = "test" if data["test"] is not None else "validation"
    X_ev, y_ev, f_ev = data["test"] if data["test"] is not None else (X_va, y_va, f_va)

    tflite = to_int8_tflite(model, X_tr)
    X_ev_int8 = quantize_input(X_ev, tflite)
    report = {
        "labels": labels,
        "eval_split": eval_split,
        "n_train": int(len(y_tr)), "n_validation": int(len(y_va)), "n_eval": int(len(y_ev)),
        "float_validation_accuracy": float_accuracy(model, X_va, y_va),
        "float_accuracy": float_accuracy(model, X_ev, y_ev),
        "int8_accuracy": evaluate_tflite(tflite, X_ev_int8, y_ev),  # TFLM: what the board must equal
        "tflite_bytes": len(tflite),
        "params": int(model.count_params()),
        "epochs": epochs, "best_epoch": int(history.history["best_epoch"]) + 1, "seed": seed,
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items() if isinstance(vals, list)},
        "train_seconds": round(t_fit, 1),
        "seconds": round(time.time() - t0, 1),
    }
    result = {"model": model, "tflite": tflite, "feature_config": cfg, "labels": labels,
              "X_test_int8": X_ev_int8, "y_test": y_ev, "test_files": f_ev, "report": report}
    if out_dir is not None:
        save_kws_model(out_dir, result)
    return result


def save_kws_model(out_dir, result: dict) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.tflite").write_bytes(result["tflite"])
    result["model"].save(out / "model.keras")
    result["feature_config"].save(out / "features.json")
    (out / "labels.txt").write_text("".join(f"{lab}\n" for lab in result["labels"]))
    np.savez_compressed(out / "test_int8.npz", X=result["X_test_int8"], y=result["y_test"],
                        files=np.asarray(result["test_files"]))
    (out / "report.json").write_text(json.dumps(result["report"], indent=1) + "\n")
    return out


def load_kws_model(out_dir) -> dict:
    """Read back what save_kws_model wrote (without the Keras model): tflite, feature_config,
    labels, X_test_int8, y_test, test_files, report."""
    out = Path(out_dir)
    missing = [n for n in ("model.tflite", "features.json", "labels.txt", "test_int8.npz", "report.json")
               if not (out / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{out} is not a saved keyword model: missing {missing}")
    with np.load(out / "test_int8.npz") as z:
        X, y, files = z["X"], z["y"], [str(f) for f in z["files"]]
    return {"tflite": (out / "model.tflite").read_bytes(), "feature_config": FeatureConfig.load(out / "features.json"),
            "labels": (out / "labels.txt").read_text().split(), "X_test_int8": X, "y_test": y,
            "test_files": files, "report": json.loads((out / "report.json").read_text())}
