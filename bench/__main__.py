"""Benchmarks over a fixed set of models on an emulated board.

For each model: MACs, emulated instructions per inference (QEMU -icount, not hardware cycles),
MACs per instruction, flash, and mcuforge's arena next to baselines computed in the same run: the
arena without reuse (every activation its own buffer), TFLM's activation arena for the same model
(the tensor buffers its planner places: like for like with mcuforge's arena, which holds only
activations) and TFLM's total on this x86-64 host (plus its persistent interpreter structures).
Then, for the two models of bench/tflm_baseline/, the same against TFLM measured ON THE SAME
EMULATED BOARD (recorded in tflm-baseline.json: its on-device arena, instructions with its
reference and CMSIS-NN kernels). Results also go to the results database (kind "bench"). Then the
binary conv against the int8 conv of the same shape, the whole BNN against the int8 DS-CNN, and,
when 'make demo' has run, the accuracy ceiling of head-only learning on the frozen BNN embedding
(bench/head_ceiling.py) and, when 'python -m bench.bnn_levers' has trained them, the pretraining
levers' probe bounds (bench/bnn_levers.py), the firmware fuzz figure: 10^7 libFuzzer executions of the link parser and
handlers (bench/fuzz_firmware.py), and the serial link under faults (bench/link_faults.py: faults
injected, recovered, results lost), and a fleet of 1, 2 and 4 emulated boards (bench/fleet.py).
Per layer, the two shared bench models against TFLM's recorded
reference and CMSIS-NN counts (bench/layers.py).

``python -m bench fuzz`` instead prints the bad-model fuzzing figures (bench/fuzz.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the model zoo lives with the tests

MODELS = ["ds_cnn_kws", "conv_variants", "depthwise", "dense_flatten", "residual", "global_pool", "pooling"]
TFLM_BASELINE = Path(__file__).resolve().parent / "tflm_baseline"
ZOO_HEADERS = ["model", "MACs", "instr", "MACs/instr", "flash B", "arena B", "no reuse B", "TFLM act. B (host)",
               "TFLM total B (x86-64 host)", "arena/TFLM act.", "bit-exact"]
DEVICE_HEADERS = ["model", "arena B", "TFLM arena B (device)", "instr", "TFLM ref instr", "TFLM CMSIS-NN instr",
                  "flash B", "TFLM ref flash B"]


def arena_baselines(model) -> dict:
    """The arena baselines for one .tflite (bytes or path), no board needed. ``arena`` here is
    planned with the reference kernels; the tables print the arena of the firmware that ran
    (``Validation.arena_bytes``: planned with the board's kernel variants, some in place)."""
    from mcuforge.model import load
    from mcuforge.plan.arena import plan_arena
    from mcuforge.reference.tflm import tflm_arena

    data = Path(model).read_bytes() if isinstance(model, (str, Path)) else bytes(model)
    plan = plan_arena(load(data).graph)
    tflm = tflm_arena(data)
    return dict(arena=plan.arena_bytes, no_reuse=plan.naive_bytes(), tflm_activations=tflm["activations"],
                tflm_host_total=tflm["total"])


def zoo_row(name: str, v, a: dict) -> list:
    s = v.summary()
    return [name, v.macs, round(s["cycles_median"]), s["macs_per_cycle"], v.flash_bytes, v.arena_bytes, a["no_reuse"],
            a["tflm_activations"], a["tflm_host_total"], f"{v.arena_bytes / a['tflm_activations']:.2f}x",
            "ok" if v.ok else f"{v.mismatches} DIFFER"]


def device_row(name: str, v, a: dict, recorded: dict) -> list:
    """mcuforge on the board vs TFLM's numbers recorded on the same emulated board."""
    r = recorded["models"][name]
    return [name, v.arena_bytes, r["arena_used_bytes"]["reference"], round(v.summary()["cycles_median"]),
            r["instructions"]["reference"], r["instructions"]["cmsis_nn"], v.flash_bytes, r["flash_bytes"]["reference"]]


def features_throughput(clips: int = 2000) -> float:
    """Host log-mel features per second (numpy, FeatureConfig defaults): wall-clock, so here, not in tests."""
    import time

    import numpy as np

    from mcuforge.data.features import log_mel

    x = np.random.default_rng(3).normal(0, 0.1, (clips, 16000)).astype(np.float32)
    t0 = time.perf_counter()
    log_mel(x)
    return clips / (time.perf_counter() - t0)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fuzz"]:  # python -m bench fuzz: the bad-model fuzzing figures (bench/fuzz.py)
        from bench import fuzz

        return fuzz.main(argv[1:])
    from mcuforge.commands._common import table
    from mcuforge.validation import validate
    from mcuforge.results.store import ResultsStore
    from models.zoo import ZOO

    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-b", "--board", default="netduinoplus2")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated zoo models")
    p.add_argument("--samples", type=int, default=3)
    p.add_argument("--db", default="mcuforge.db")
    p.add_argument("--skip", default="",
                   help="comma-separated parts to skip: zoo, device, layers, binary, kws, ceiling, fuzz, link, "
                        "fleet, features")
    p.add_argument("--demo-dir", default="build/demo",
                   help="where 'make demo' left its trained models (kws_dscnn.tflite, bnn.keras) for the KWS comparison")
    args = p.parse_args(argv)
    skip = set(args.skip.split(","))

    import json

    store = ResultsStore(args.db)
    rows, device_rows, ok = [], [], True

    def measure(name, model):
        v = validate(model, args.board, samples=args.samples, store=store, progress=False)
        a = arena_baselines(model)
        s = v.summary()
        rid = store.start_run("bench", model_name=name, model_hash=v.model_hash, board=args.board,
                              firmware_hash=v.firmware_hash, cycles_kind=v.cycles_kind)
        baselines = {f"{k}_bytes": val for k, val in a.items() if k != "arena"}  # s has the firmware's arena
        store.add_metrics(rid, {**{k: val for k, val in s.items() if isinstance(val, (int, float)) and k != "run_id"},
                                **baselines})
        store.finish_run(rid, status="ok" if v.ok else "failed", summary={**s, **baselines})
        print(f"  {name}: done", file=sys.stderr, flush=True)
        return v, a

    for name in ([] if "zoo" in skip else args.models.split(",")):
        v, a = measure(name, ZOO[name]())
        rows.append(zoo_row(name, v, a))
        ok &= v.ok
    recorded = json.loads((TFLM_BASELINE / "tflm-baseline.json").read_text())
    for name in ([] if "device" in skip else sorted(recorded["models"])):
        v, a = measure(name, TFLM_BASELINE / name)
        device_rows.append(device_row(name, v, a, recorded))
        ok &= v.ok
    print(f"\nboard {args.board}; 'instr' = emulated instructions under QEMU -icount (not hardware cycles)")
    if rows:
        print("\nint8 models: mcuforge's arena (activations only) vs the arena without reuse and TFLM's, both "
              "computed in this run; 'TFLM act.' is TFLM's activation arena (like for like), 'TFLM total' adds "
              "its persistent structures as the x86-64 host build lays them out")
        table(rows, ZOO_HEADERS)
    if device_rows:
        print(f"\nagainst TFLM on the same emulated board (recorded: {recorded['about'][:80]}...; "
              "bench/tflm_baseline/): TFLM's whole on-device arena (activations + persistent), its instructions "
              "with reference and with CMSIS-NN kernels")
        table(device_rows, DEVICE_HEADERS)
    if "layers" not in skip:
        from bench import layers

        layers.run(args.board, REPO)
    if "binary" not in skip:
        from bench import binary

        print("\nbinary conv (XNOR + popcount, 32 channels a word) vs int8 convs of the same shape (the baselines): "
              "mcuforge's int8 conv2d (conv2d_dsp on cores with the DSP extension: its best int8 conv) and "
              "conv2d_threshold (the BNN's own int8 conv, SMLAD dot products; bench/binary.py); emulated instructions")
        table(binary.run(args.board), binary.HEADERS)
    if "kws" not in skip:
        from bench import kws

        kws_rows = kws.run(args.board, Path(args.demo_dir))
        print("\nkeyword spotters, cost per clip: whole BNN backbone vs int8 DS-CNN (the baseline). The DS-CNN's "
              "int8 layers and the BNN's first and last conv both use SMLAD on DSP cores; the "
              "'int8+float layers' column says how much of it that is (accuracy: see 'make demo', measured there)")
        table(kws_rows, kws.HEADERS)
    demo = Path(args.demo_dir)
    if "ceiling" not in skip and (demo / "bnn.keras").is_file() and (demo / "data").is_dir():
        from bench import head_ceiling

        head_ceiling.print_report(demo)
    if "ceiling" not in skip and Path("build/levers").is_dir():  # 'python -m bench.bnn_levers' trained them (~1 h each)
        from bench import bnn_levers

        bnn_levers.main(["--table", "--work", "build/levers"])
    if "fuzz" not in skip:
        from bench import fuzz_firmware

        fuzz = fuzz_firmware.run()
        fuzz_firmware.print_report(fuzz)
        ok &= fuzz["clean"]
    if "link" not in skip:
        from bench import link_faults

        ok &= link_faults.print_report(args.board) == 0
    if "fleet" not in skip:
        from bench import fleet

        fleet.print_report()
    if "features" not in skip:
        print(f"\nhost log-mel features (numpy): {features_throughput():,.0f} clips/s (wall clock, this machine)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
