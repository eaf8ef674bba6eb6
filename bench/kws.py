"""The whole BNN keyword backbone vs the int8 DS-CNN, per clip on the emulated board.

Uses the models 'make demo' trained (build/demo/kws_dscnn.tflite and bnn.keras, with their accuracies)
when they exist; otherwise the same architectures with untrained weights, for cost only.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from mcuforge.validation import make_inputs
from mcuforge.target import open_target


def _cost(model, board: str) -> dict:
    from mcuforge.model import load

    model = load(model)
    x = make_inputs(model.graph, 1, seed=0)[0][None]
    with open_target(model, board) as t:
        _, instr = t.run([x])
        return dict(instr=instr, flash=t.build.flash_bytes, weights=t.project.budget.weights_bytes,
                    arena=t.project.plan.arena_bytes)


def _untrained(tmp: Path) -> tuple[Path, Path]:
    import numpy as np

    from mcuforge.data.features import FeatureConfig
    from mcuforge.train.bnn import BASE_LABELS, BNN_FEATURES, build_bnn_kws, save_bnn
    from mcuforge.train.convert import to_int8_tflite
    from mcuforge.train.dscnn import build_dscnn

    ds = tmp / "dscnn.tflite"
    ds.write_bytes(to_int8_tflite(build_dscnn((98, 40, 1), 12), np.random.default_rng(0).standard_normal((64, 98, 40, 1)).astype(np.float32)))
    bnn = save_bnn(build_bnn_kws((*BNN_FEATURES.shape, 1), len(BASE_LABELS)),
                   BNN_FEATURES.with_stats(0.0, 1.0), BASE_LABELS, tmp / "bnn.keras")
    return ds, bnn


def run(board: str, demo_dir: Path) -> list[list]:
    ds, bnn = demo_dir / "kws_dscnn.tflite", demo_dir / "bnn.keras"
    acc_ds = acc_bnn = "untrained"
    with tempfile.TemporaryDirectory() as tmp:
        if ds.exists() and bnn.exists():
            meta = json.loads(bnn.with_suffix(".json").read_text()).get("extra", {})
            acc_bnn = f"{100 * meta['test_accuracy']:.1f}% (host)" if "test_accuracy" in meta else "?"
            result = demo_dir / "demo-int8.json"
            if result.exists():
                acc_ds = f"{100 * json.loads(result.read_text())['accuracy_board']:.1f}% (board)"
        else:
            ds, bnn = _untrained(Path(tmp))
        a, b = _cost(ds, board), _cost(bnn, board)
    return [["int8 DS-CNN", acc_ds, a["instr"], a["flash"], a["weights"], a["arena"]],
            ["BNN backbone", acc_bnn, b["instr"], b["flash"], b["weights"], b["arena"]],
            ["BNN / DS-CNN", "", f"{b['instr'] / a['instr']:.2f}x", f"{b['flash'] / a['flash']:.2f}x",
             f"{b['weights'] / a['weights']:.2f}x", f"{b['arena'] / a['arena']:.2f}x"]]
