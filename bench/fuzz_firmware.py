"""The firmware fuzz figure: the link parser, dispatcher and every message handler (core,
frontend, learning, RNN) built for the host with libFuzzer + ASan/UBSan (tests/fuzz/), run from
the checked-in seed corpus for 10^7 executions. Prints executions, crashes, hangs, sanitizer
reports (each must be 0) and the rate (executions per second of wall time, and per CPU
second: the rate depends on the machine and its load, the counts must not).

    python -m bench.fuzz_firmware [--runs N] [--seed S] [--max-len B] [--workers W]
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the fuzz target and its corpus live with the tests


def run(runs: int = 10_000_000, seed: int = 1, max_len: int = 512, workers: int = 1) -> dict:
    """``workers`` independent libFuzzer processes (seeds seed, seed+1, ...) share the runs."""
    from concurrent.futures import ThreadPoolExecutor

    import fuzz_firmware as F

    with tempfile.TemporaryDirectory(prefix="mcuforge-fuzz-") as tmp:
        work = Path(tmp)
        exe = F.build_fuzzer(work / "build")
        dirs = [work / f"worker{i}" for i in range(workers)]
        share = [runs // workers + (i < runs % workers) for i in range(workers)]
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        t0 = time.monotonic()
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda i: F.run_fuzzer(exe, share[i], dirs[i], seed=seed + i,
                                                           max_len=max_len), range(workers)))
        seconds = time.monotonic() - t0
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - cpu0
        artifacts = sorted(p.name for d in dirs for p in d.glob("*-*") if p.is_file())
    executions = sum(r.executions for r in results)
    interrupted = any(r.interrupted for r in results)
    clean = all(r.clean or (r.interrupted and not (r.crashes or r.hangs or r.sanitizer_reports))
                for r in results)
    return dict(executions=executions, crashes=sum(r.crashes for r in results),
                hangs=sum(r.hangs for r in results),
                sanitizer_reports=sum(r.sanitizer_reports for r in results), seconds=seconds,
                cpu_seconds=cpu, rate=executions / seconds if seconds else 0.0,
                cpu_rate=executions / cpu if cpu else 0.0, clean=clean, workers=workers,
                interrupted=interrupted,
                artifacts=artifacts,
                log_tail="" if clean else "\n".join(r.log[-3000:] for r in results if not r.clean))


def print_report(res: dict, out=sys.stdout) -> None:
    from mcuforge.commands._common import table

    print("\nfirmware fuzz (libFuzzer + ASan/UBSan on the host: link parser, dispatcher, core, "
          "frontend, learning and RNN handlers)", file=out)
    table([[res["executions"], res["crashes"], res["hangs"], res["sanitizer_reports"],
            round(res["rate"]), round(res["cpu_rate"]), round(res["seconds"])]],
          ["executions", "crashes", "hangs", "sanitizer reports", "exec/s wall", "exec/CPU-s",
           "seconds"], out)
    print(f"{res['workers']} libFuzzer process(es), seeds from the checked-in corpus", file=out)
    if res["interrupted"]:
        print(f"INTERRUPTED (SIGINT) after {res['executions']:,} executions: the counts above are "
              "of those, not of the runs asked for", file=out)
    if not res["clean"]:
        print(f"NOT CLEAN: artifacts {res['artifacts']}\n{res['log_tail']}", file=out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fuzz_firmware", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=10_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-len", type=int, default=512, help="longest input libFuzzer makes (bytes)")
    p.add_argument("--workers", type=int, default=1, help="parallel fuzz processes sharing the runs")
    args = p.parse_args(argv)
    res = run(args.runs, args.seed, args.max_len, args.workers)
    print_report(res)
    return 130 if res["interrupted"] else 0 if res["clean"] else 1


if __name__ == "__main__":
    sys.exit(main())
