"""The serial link under faults: decoder throughput under noise, and ``validate`` through the
fault-injecting proxy (mcuforge.link.faultproxy) on a board that is already running.

    python -m bench.link_faults [--samples 30] [--seed 1]

Prints the faults injected by kind, the link's recoveries (resends, damaged replies, samples
run again after a board reset or a lost INVOKE reply) and the results lost (samples whose
output is missing, duplicated or not bit-exact against TFLM): 0 is the claim. Wall time is
host time on this machine, not a board timing.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the model zoo lives with the tests

NOISE_BYTES = 200_000


def decoder_throughput() -> list[list]:
    """MB/s the host decoder takes in, per kind of line content (one feed per 4 KiB read, as
    the link reads; partial frames declared dead at the end, as after an idle line)."""
    from mcuforge.link import protocol as P

    rng = random.Random(0)
    frames = b"".join(P.encode_frame(0x85, i % 255 + 1, rng.randbytes(1024)) for i in range(190))
    kinds = {
        "valid 1 KiB frames": (frames, P.MAX_FRAME_PAYLOAD),
        "random bytes": (rng.randbytes(NOISE_BYTES), P.MAX_FRAME_PAYLOAD),
        "fake 64 KiB headers, before HELLO": (b"\xa5\x5a\x81\x07\xff\xff" * (NOISE_BYTES // 6), P.MAX_FRAME_PAYLOAD),
        "fake 4 KiB headers, after HELLO": (b"\xa5\x5a\x81\x07\x00\x10" * (NOISE_BYTES // 6), P.REPLY_PAYLOAD_FLOOR),
    }
    rows = []
    for name, (data, max_payload) in kinds.items():
        d = P.FrameDecoder(max_payload=max_payload)
        calls, start = 0, time.perf_counter()
        for pos in range(0, len(data), 4096):
            d.feed(data[pos : pos + 4096])
            calls += 1
            while d.backlog:
                d.feed(b"")
                calls += 1
        d.resync()
        while d.backlog:
            d.resync()
            calls += 1
        seconds = time.perf_counter() - start
        rows.append([name, len(data), round(len(data) / seconds / 1e6, 2), round(d.examined / len(data), 1),
                     calls])
    return rows


def faulty_validate(board: str, samples: int, seed: int) -> tuple[dict, dict]:
    """validate --port through the proxy on a board started as 'flash --listen' leaves it."""
    from mcuforge.boards import load_board
    from mcuforge.build.make import build
    from mcuforge.project import generate
    from mcuforge.validation import make_inputs, validate
    from mcuforge.flash import QemuSession
    from mcuforge.link.faultproxy import FaultProxy, Faults
    from mcuforge.model.tflite import load_tflite
    from mcuforge.reference.tflm import TflmModel
    from models.zoo import ZOO

    faults = Faults(corrupt=0.01, burst=8, drop_byte=0.001, drop_frame=0.03, delay_frame=0.02, delay=1.2,
                    reset_every=25, seed=seed)
    with tempfile.TemporaryDirectory(prefix="mcuforge-bench-") as tmp:
        model = Path(tmp) / "dense.tflite"
        model.write_bytes(ZOO["dense_flatten"]())
        project = generate(model, board, Path(tmp) / "fw")
        elf = build(project.path).elf
        x = make_inputs(load_tflite(model.read_bytes()), samples, seed=seed)
        os.environ.setdefault("MCUFORGE_LINK_TIMEOUT", "1.0")  # the proxy's delays pass it
        os.environ.setdefault("MCUFORGE_INVOKE_TIMEOUT", "1.0")
        with QemuSession(elf, load_board(board)) as session:
            session.link().close()  # booted and listening, as 'mcuforge flash --listen' leaves it
            with FaultProxy(session.port, faults, reset=session.reset) as proxy:
                start = time.monotonic()
                v = validate(model, board, inputs=x, workdir=project.path, port=proxy.url, progress=False)
                seconds = time.monotonic() - start
        reference = TflmModel(model.read_bytes())
        exact = sum(int((got.reshape(-1) == reference.run([xi[None]])[0].reshape(-1)).all())
                    for xi, got in zip(x, v.outputs))
    result = {"samples": samples, "outputs returned": len(v.outputs), "bit-exact": exact,
              "results lost": samples - exact if len(v.outputs) == samples else samples,
              "faults injected": sum(proxy.injected.values()), "wall s (host)": round(seconds, 1)}
    return result, dict(proxy.injected)


def print_report(board: str = "netduinoplus2", samples: int = 30, seed: int = 1) -> int:
    from mcuforge.commands._common import table

    print("\nlink decoder under noise (host, this machine); 'examined/B' = bytes CRC'd or scanned per input byte")
    table(decoder_throughput(), ["line carries", "bytes", "MB/s", "examined/B", "feed calls"])
    result, injected = faulty_validate(board, samples, seed)
    print(f"\nvalidate --port through the fault proxy ({board} under QEMU; 1% of bytes corrupted in 8-byte bursts, "
          "0.1% dropped, 3% of frames dropped, 2% held 1.2 s past the 1 s timeout, a board reset every 25 requests; "
          "boot HELLOs are damaged like any frame: a reset whose HELLO is lost is caught by the session number)")
    table([[k, v] for k, v in injected.items()], ["fault injected", "count"])
    table([[k, v] for k, v in result.items()], ["", "value"])
    recovered = result["faults injected"] if result["results lost"] == 0 else "-"
    print(f"faults injected {result['faults injected']}, recovered {recovered}, results lost {result['results lost']}")
    return 0 if result["results lost"] == 0 else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.link_faults", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-b", "--board", default="netduinoplus2")
    p.add_argument("--samples", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    return print_report(args.board, args.samples, args.seed)


if __name__ == "__main__":
    sys.exit(main())
