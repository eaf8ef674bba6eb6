"""The firmware fuzz figure: the link parser, dispatcher and every message handler (core,
frontend, learning) built for the host with libFuzzer + ASan/UBSan (tests/fuzz/), run from
the checked-in seed corpus for 10^7 executions. Prints executions, crashes, hangs, sanitizer
reports (each must be 0) and the rate (executions per second of wall time, and per CPU
second: the rate depends on the machine and its load, the counts must not).

    python -m bench.fuzz_firmware [--runs N] [--seed S] [--max-len B]
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the fuzz target and its corpus live with the tests


def run(runs: int = 10_000_000, seed: int = 1, max_len: int = 512) -> dict:
    import fuzz_firmware as F

    with tempfile.TemporaryDirectory(prefix="mcuforge-fuzz-") as tmp:
        work = Path(tmp)
        exe = F.build_fuzzer(work / "build")
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        r = F.run_fuzzer(exe, runs, work, seed=seed, max_len=max_len)
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - cpu0
        artifacts = sorted(p.name for p in work.glob("*-*") if p.is_file())
    return dict(executions=r.executions, crashes=r.crashes, hangs=r.hangs,
                sanitizer_reports=r.sanitizer_reports, seconds=r.seconds, cpu_seconds=cpu,
                rate=r.rate, cpu_rate=r.executions / cpu if cpu else 0.0, clean=r.clean,
                artifacts=artifacts, log_tail="" if r.clean else r.log[-3000:])


def print_report(res: dict, out=sys.stdout) -> None:
    from mcuforge.commands._common import table

    print("\nfirmware fuzz (libFuzzer + ASan/UBSan on the host: link parser, dispatcher, core, "
          "frontend and learning handlers)", file=out)
    table([[res["executions"], res["crashes"], res["hangs"], res["sanitizer_reports"],
            round(res["rate"]), round(res["cpu_rate"]), round(res["seconds"])]],
          ["executions", "crashes", "hangs", "sanitizer reports", "exec/s wall", "exec/CPU-s",
           "seconds"], out)
    if not res["clean"]:
        print(f"NOT CLEAN: artifacts {res['artifacts']}\n{res['log_tail']}", file=out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fuzz_firmware", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=10_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-len", type=int, default=512, help="longest input libFuzzer makes (bytes)")
    args = p.parse_args(argv)
    res = run(args.runs, args.seed, args.max_len)
    print_report(res)
    return 0 if res["clean"] else 1


if __name__ == "__main__":
    sys.exit(main())
