"""Per layer, the two shared benchmark models on the emulated board against TFLM's recorded counts.

For each layer: mcuforge's emulated instructions (QEMU -icount, not hardware cycles), TFLM with its
reference kernels and with CMSIS-NN on the same board and QEMU (``tflm-baseline.json`` in the shared
bench folder, counted exactly by a plugin), the ratios, and MACs per instruction against the
Cortex-M4's ceiling of 2 (one SMLAD); then the whole inference, flash and arena against TFLM's.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

MODELS = ("kws_dscnn_int8.tflite", "model_int8.tflite")
CEILING = 2.0  # int8 MACs per instruction: SMLAD
TFLITE_OPS = {"conv2d": "CONV_2D", "depthwise_conv2d": "DEPTHWISE_CONV_2D", "fully_connected": "FULLY_CONNECTED",
              "mean": "MEAN", "softmax": "SOFTMAX", "avg_pool2d": "AVERAGE_POOL_2D", "max_pool2d": "MAX_POOL_2D",
              "add": "ADD"}


def shared_dir(repo: Path) -> Path:
    """The shared bench folder: $MCUFORGE_SHARED/bench, else ../shared/bench beside the repository."""
    root = Path(os.environ["MCUFORGE_SHARED"]) if os.environ.get("MCUFORGE_SHARED") else repo.parent / "shared"
    return root / "bench"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def compare(profile: dict, base: dict) -> tuple[list[list], list]:
    """Rows per layer (matched to TFLM's operators in order) and the total row."""
    ours, theirs = profile["layers"], base["layers"]
    if [TFLITE_OPS.get(l["op"], l["op"]) for l in ours] != [t[0] for t in theirs]:
        raise ValueError(f"layers {[l['op'] for l in ours]} do not match TFLM's operators {[t[0] for t in theirs]}")
    rows = []
    for l, (op, macs, ref, cmsis) in zip(ours, theirs):
        instr = round(l["cycles"])
        multiplies = macs > 0 and instr  # MEAN and SOFTMAX multiply-accumulate nothing: no ceiling
        rows.append([l["index"], op, l["macs"], instr, ref, cmsis, _ratio(instr, ref), _ratio(instr, cmsis),
                     l["macs"] / instr if multiplies else "-",
                     f"{100 * l['macs'] / instr / CEILING:.0f}%" if multiplies else "-",
                     "yes" if instr <= cmsis else "NO"])
    total = round(profile["total_cycles"])
    ref, cmsis = base["instructions"]["reference"], base["instructions"]["cmsis_nn"]
    rows.append(["", "whole inference", profile["macs"], total, ref, cmsis, _ratio(total, ref), _ratio(total, cmsis),
                 profile["macs"] / total, f"{100 * profile['macs'] / total / CEILING:.0f}%",
                 "yes" if total <= cmsis else "NO"])
    return rows, [total, profile["flash_bytes"], base["flash_bytes"]["cmsis_nn"], profile["arena_bytes"],
                  base["arena_used_bytes"]["cmsis_nn"]]


HEADER = ["#", "op", "MACs", "mcuforge", "TFLM ref", "CMSIS-NN", "/ref", "/CMSIS-NN", "MACs/instr", "of ceiling",
          "<= CMSIS-NN"]


def run(board: str, repo: Path, out=sys.stdout) -> bool:
    """Print the tables; True when every layer and the whole are at or below CMSIS-NN's count."""
    from mcuforge.commands._common import table
    from mcuforge.profiling import profile

    folder = shared_dir(repo)
    baseline = json.loads((folder / "tflm-baseline.json").read_text())
    if baseline.get("board") != board:
        print(f"\n(per-layer TFLM comparison skipped: the baseline was recorded on {baseline.get('board')})", file=out)
        return True
    ok = True
    for name in MODELS:
        prof = profile(folder / name, board, runs=1)
        rows, (total, flash, tflm_flash, arena, tflm_arena) = compare(prof, baseline["models"][name])
        print(f"\n{name} on {board}: emulated instructions per layer (QEMU -icount; TFLM counts from "
              f"tflm-baseline.json), ceiling {CEILING:g} MACs/instr", file=out)
        table(rows, HEADER, out)
        print(f"flash {flash:,} B (TFLM+CMSIS-NN {tflm_flash:,} B), arena {arena:,} B (TFLM's on-device "
              f"{tflm_arena:,} B, {arena / tflm_arena:.2f}x); layers written over their input: "
              f"{', '.join(map(str, prof['in_place_layers'])) or 'none'}", file=out)
        ok &= all(r[-1] == "yes" for r in rows)
    return ok
