"""Bad-model fuzzing figures (issue 15): ``python -m bench fuzz``.

1. Structure-aware mutations (tests/model_fuzz.py) of every zoo model, through reading, lowering,
   planning and C generation: executions, compiled, refusals (ModelError), crashes (anything else).
2. The coverage-guided reader target (tests/fuzz_reader.py, atheris) for ``--atheris-runs``
   executions, seeded from tests/corpus/reader and the zoo.

Deterministic: fixed model bytes and seeds (``--seed``); rates depend on the machine and its load.
Exit status 1 when anything crashed; 130 when Ctrl-C stopped it (after the counts so far).
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"


def mutation_fuzz(cases: int, seed: int) -> tuple[list[list], int, float, bool]:
    """Rows per model, the crash count, the CPU seconds and whether Ctrl-C stopped the run;
    ``cases`` spread evenly over the zoo. Stopped by Ctrl-C, the rows are those of the models
    done so far and the one cut short (its cases finished, marked "(interrupted)")."""
    from model_fuzz import FuzzResult, fuzz_model
    from models.zoo import ZOO

    per_model = -(-cases // len(ZOO))
    rows, crashes, total_cpu, interrupted = [], 0, 0.0, False
    for i, name in enumerate(ZOO):
        res = FuzzResult()
        start = time.process_time()
        try:
            fuzz_model(name, ZOO[name](), per_model, first_seed=seed + i * per_model, into=res)
        except KeyboardInterrupt:
            interrupted = True
        cpu = time.process_time() - start
        crashes += len(res.crashes)
        total_cpu += cpu
        if res.executions or not interrupted:
            rows.append([name + (" (interrupted)" if interrupted else ""), res.executions, res.compiled,
                         res.refusals, len(res.crashes), round(res.executions / cpu) if cpu else 0])
        for c in res.crashes[:3]:
            print(f"  CRASH {c.model} seed {c.seed}: {c.what}\n    {c.error}", file=sys.stderr)
        print(f"  {name}: {res.executions} cases, {len(res.crashes)} crashes", file=sys.stderr, flush=True)
        if interrupted:
            break
    return rows, crashes, total_cpu, interrupted


def atheris_fuzz(runs: int, seed: int) -> dict:
    """Run the atheris target for ``runs`` executions in a child process (libFuzzer exits the process).
    Stopped by SIGINT (Ctrl-C reaches both; one sent to this process alone is passed on), it reports
    the executions made so far as ``interrupted``, not as a crash."""
    from fuzz_firmware import parse_log

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, str(TESTS / "fuzz_reader.py"), f"-runs={runs}", f"-seed={seed}", "-max_len=8192",
               f"-artifact_prefix={tmp}/", "-print_final_stats=1", tmp + "/corpus",
               str(TESTS / "corpus" / "reader"), str(TESTS / "models" / "tflite")]
        Path(tmp, "corpus").mkdir()
        log_path = Path(tmp, "log")
        start = time.monotonic()
        with log_path.open("w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            try:
                proc.wait()
            except KeyboardInterrupt:
                proc.send_signal(signal.SIGINT)
                proc.wait()
        wall = time.monotonic() - start
        res = parse_log(log_path.read_text(errors="replace"), proc.returncode, wall)
        artifacts = [p.name for p in Path(tmp).glob("*-*") if p.is_file()]  # crash-, timeout-, oom-<sha1>
    crashes = max(len(artifacts), res.crashes + res.hangs)  # a crash that left no artifact still counts
    return dict(executions=res.executions, crashes=crashes, interrupted=res.interrupted and not crashes,
                seconds=round(wall, 1), rate=round(res.rate), returncode=proc.returncode,
                tail=res.log[-2000:] if crashes else "")


def main(argv=None) -> int:
    from mcuforge.commands._common import table

    p = argparse.ArgumentParser(prog="python -m bench fuzz", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=100_000, help="structure-aware mutation cases (all models)")
    p.add_argument("--atheris-runs", type=int, default=1_000_000, help="coverage-guided executions (0: skip)")
    p.add_argument("--seed", type=int, default=1_000_000, help="first seed (the suite uses 0..)")
    args = p.parse_args(argv)

    crashes = 0
    if args.cases:
        start = time.monotonic()
        rows, crashes, cpu, interrupted = mutation_fuzz(args.cases, args.seed)
        wall = time.monotonic() - start
        total = [sum(r[i] for r in rows) for i in range(1, 5)]
        print("\nstructure-aware mutations (read, lower, plan, generate C; rate = cases per CPU second)")
        table(rows + [["all models", *total, round(total[0] / cpu) if cpu else 0]],
              ["model", "executions", "compiled", "refusals", "crashes", "cases/s"])
        print(f"{total[0]:,} executions in {wall:,.0f} s wall: {total[2]:,} refusals (ModelError), "
              f"{total[1]:,} compiled, crashes={total[3]}")
        if interrupted:
            print(f"INTERRUPTED (SIGINT) after {total[0]:,} of the {args.cases:,} cases asked: the counts above are of "
                  "those; the coverage-guided run was not started")
            return 1 if crashes else 130
    if args.atheris_runs:
        a = atheris_fuzz(args.atheris_runs, args.seed)
        crashes += a["crashes"]
        print(f"\ncoverage-guided reader (atheris): {a['executions']:,} executions in {a['seconds']:,} s "
              f"({a['rate']:,}/s), crashes={a['crashes']}")
        if a["interrupted"]:
            print(f"INTERRUPTED (SIGINT) after {a['executions']:,} of {args.atheris_runs:,} executions: the counts "
                  "above are of those")
        if a["tail"]:
            print(a["tail"], file=sys.stderr)
    return 1 if crashes else 130 if args.atheris_runs and a["interrupted"] else 0


if __name__ == "__main__":
    sys.exit(main())
