"""Benchmarks over a fixed set of models on an emulated board.

For each model: MACs, emulated instructions per inference (QEMU -icount, not hardware cycles),
MACs per instruction, flash, and the arena next to two baselines measured in the same run:
TFLM's arena for the same model (its interpreter's own report) and the arena without reuse.
Results also go to the results database (kind "bench"). Then, per layer, the two shared bench models against
TFLM's recorded reference and CMSIS-NN counts (bench/layers.py). Then the binary conv against the int8 conv of
the same shape, the whole BNN against the int8 DS-CNN, and, when 'make demo' has run, the accuracy ceiling
of head-only learning on the frozen BNN embedding (bench/head_ceiling.py), the firmware fuzz
figure: 10^7 libFuzzer executions of the link parser and handlers (bench/fuzz_firmware.py), and the
serial link under faults (bench/link_faults.py: faults injected, recovered, results lost).

``python -m bench fuzz`` instead prints the bad-model fuzzing figures (bench/fuzz.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the model zoo lives with the tests

MODELS = ["ds_cnn_kws", "conv_variants", "depthwise", "dense_flatten", "residual", "global_pool", "pooling"]


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
    p.add_argument("--skip", default="", help="comma-separated parts to skip: zoo, layers, binary, kws, ceiling, fuzz, link")
    p.add_argument("--demo-dir", default="build/demo",
                   help="where 'make demo' left its trained models (kws_dscnn.tflite, bnn.keras) for the KWS comparison")
    args = p.parse_args(argv)
    skip = set(args.skip.split(","))

    store = ResultsStore(args.db)
    rows = []
    for name in ([] if "zoo" in skip else args.models.split(",")):
        v = validate(ZOO[name](), args.board, samples=args.samples, store=store, progress=False)
        s = v.summary()
        naive = s.get("naive_arena_bytes")
        rows.append([name, v.macs, round(s["cycles_median"]), s["macs_per_cycle"], v.flash_bytes, v.arena_bytes,
                     v.reference_arena_bytes, f"{v.arena_bytes / v.reference_arena_bytes:.2f}x",
                     "ok" if v.ok else f"{v.mismatches} DIFFER"])
        rid = store.start_run("bench", model_name=name, model_hash=v.model_hash, board=args.board,
                              firmware_hash=v.firmware_hash, cycles_kind=v.cycles_kind)
        store.add_metrics(rid, {k: val for k, val in s.items() if isinstance(val, (int, float)) and k != "run_id"})
        store.finish_run(rid, status="ok" if v.ok else "failed", summary=s)
        print(f"  {name}: done", file=sys.stderr, flush=True)
    print(f"\nboard {args.board}; 'instr' = emulated instructions under QEMU -icount (not hardware cycles)")
    if rows:
        print("\nint8 models (baseline: TFLM's arena for the same model, measured in this run)")
        table(rows, ["model", "MACs", "instr", "MACs/instr", "flash B", "arena B", "TFLM arena B", "arena/TFLM",
                     "bit-exact"])
    if "layers" not in skip:
        from bench import layers

        layers.run(args.board, REPO)
    if "binary" not in skip:
        from bench import binary

        print("\nbinary conv (XNOR + popcount, 32 channels a word) vs int8 conv of the same shape (the baseline)")
        table(binary.run(args.board), ["layer", "int8 instr", "binary instr", "speed-up", "int8 weights B",
                                       "binary weights B", "smaller", "int8 act B", "binary act B"])
    if "kws" not in skip:
        from bench import kws

        kws_rows = kws.run(args.board, Path(args.demo_dir))
        print("\nkeyword spotters: whole BNN backbone vs int8 DS-CNN (the baseline)")
        table(kws_rows, ["model", "accuracy", "instr/clip", "flash B", "weights B", "arena B"])
    demo = Path(args.demo_dir)
    if "ceiling" not in skip and (demo / "bnn.keras").is_file() and (demo / "data").is_dir():
        from bench import head_ceiling

        head_ceiling.print_report(demo)
    fuzz_clean = True
    if "fuzz" not in skip:
        from bench import fuzz_firmware

        fuzz = fuzz_firmware.run()
        fuzz_firmware.print_report(fuzz)
        fuzz_clean = fuzz["clean"]
    link_ok = True
    if "link" not in skip:
        from bench import link_faults

        link_ok = link_faults.print_report(args.board) == 0
    return 0 if all(r[-1] == "ok" for r in rows) and fuzz_clean and link_ok else 1


if __name__ == "__main__":
    sys.exit(main())
