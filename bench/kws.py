"""The whole BNN keyword backbone vs the int8 DS-CNN, cost per clip on the emulated board.

Uses the models 'make demo' trained (build/demo/kws_dscnn.tflite and bnn.keras) when they exist,
otherwise the same architectures with untrained weights: cost does not depend on the weights.
Accuracy is not printed here: it is measured by 'make demo' (on the board), not read back from
files an earlier run left. The "int8+float layers" and "binary layers" columns split each model's instructions: on DSP
cores both the DS-CNN's int8 layers and the BNN's first and last conv use SMLAD.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from mcuforge.validation import make_inputs
from mcuforge.target import open_target


HEADERS = ["model", "instr/clip", "int8+float layers instr", "binary layers instr", "flash B", "weights B", "arena B"]
BINARY_OPS = ("bconv2d", "bmax_pool2d")  # XNOR + popcount layers; every other layer computes in int8/float


def _cost(model, board: str) -> dict:
    from mcuforge.model import load

    model = load(model)
    x = make_inputs(model.graph, 1, seed=0)[0][None]
    with open_target(model, board) as t:
        _, instr = t.run([x])
        layers = t.profile()
        binary = sum(r["cycles"] for r in layers if r["op"].lower() in BINARY_OPS)
        return dict(instr=instr, binary=binary, other=sum(r["cycles"] for r in layers) - binary,
                    flash=t.build.flash_bytes, weights=t.project.budget.weights_bytes, arena=t.project.plan.arena_bytes)


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
    """Rows (columns: HEADERS): the DS-CNN, the BNN backbone, their ratio."""
    ds, bnn = demo_dir / "kws_dscnn.tflite", demo_dir / "bnn.keras"
    with tempfile.TemporaryDirectory() as tmp:
        if not (ds.exists() and bnn.exists()):
            ds, bnn = _untrained(Path(tmp))
        a, b = _cost(ds, board), _cost(bnn, board)
    return [["int8 DS-CNN", a["instr"], a["other"], a["binary"], a["flash"], a["weights"], a["arena"]],
            ["BNN backbone", b["instr"], b["other"], b["binary"], b["flash"], b["weights"], b["arena"]],
            ["BNN / DS-CNN", f"{b['instr'] / a['instr']:.2f}x", "", "", f"{b['flash'] / a['flash']:.2f}x",
             f"{b['weights'] / a['weights']:.2f}x", f"{b['arena'] / a['arena']:.2f}x"]]
