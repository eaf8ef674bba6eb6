"""Where one streamed keyword clip's time goes on the emulated board (issue 16 section 3):
``python -m bench.stream_clip [--clips N] [--pass-clips M]``.

Builds the learning firmware of a full-size BNN backbone (untrained weights: the work per clip
does not depend on them), then streams random 1 s int16 clips through the board's front end
and backbone, with and without QEMU's -icount, and prints host wall time per phase: the
AUDIO_CHUNK requests (32 KB of samples over QEMU's STM32 USART), an empty request's round
trip, a 1000-byte PING (bytes each way), INVOKE (the backbone) and READ_OUTPUT. Wall times
depend on the host's load; the emulated instruction counts (with -icount only) do not.
Then the demo's streaming pass (``learning.embed.board_embeddings``: no -icount) over M clips on
1 and on 2 emulated boards in parallel: wall seconds per clip, the embeddings equal.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def build_firmware(work: Path):
    from mcuforge.learning.keywords import prepare_firmware
    from mcuforge.train.bnn import BASE_LABELS, BNN_FEATURES, build_bnn_kws, save_bnn

    model = build_bnn_kws((*BNN_FEATURES.shape, 1), len(BASE_LABELS))
    save_bnn(model, BNN_FEATURES.with_stats(0.0, 1.0), BASE_LABELS, work / "bnn.keras")
    return prepare_firmware(work / "bnn.keras", "netduinoplus2", work / "fw")


def profile(project_path, icount: bool, clips: int, seed: int = 0) -> dict:
    from mcuforge.flash import open_session
    from mcuforge.frontend.client import send_clip

    rng = np.random.default_rng(seed)
    rows = {"send_clip": [], "invoke": [], "read_output": []}
    with open_session(project_path, "netduinoplus2", icount=icount) as s, s.link() as link:
        t = time.perf_counter()
        for _ in range(50):
            link.ping(b"")
        empty = (time.perf_counter() - t) / 50
        t = time.perf_counter()
        for _ in range(10):
            link.ping(bytes(1000))
        kb = (time.perf_counter() - t) / 10
        for _ in range(clips):
            clip = (rng.standard_normal(16000) * 3000).astype(np.int16)
            t = time.perf_counter()
            _, front_ticks = send_clip(link, clip)
            rows["send_clip"].append(time.perf_counter() - t)
            t = time.perf_counter()
            _, ticks = link.invoke()
            rows["invoke"].append(time.perf_counter() - t)
            t = time.perf_counter()
            link.read_output(0)
            rows["read_output"].append(time.perf_counter() - t)
        scale = link.cycle_scale
        counts = (scale.convert(front_ticks), scale.convert(ticks), scale.unit)
    return dict(icount=icount, empty_rtt_ms=empty * 1e3, ping1000_ms=kb * 1e3, us_per_byte=kb / 2028 * 1e6,
                **{f"{k}_s": float(np.median(v)) for k, v in rows.items()}, counts=counts)


def stream_pass(work: Path, project, clips: int, seed: int = 1) -> None:
    from mcuforge.learning.embed import board_embeddings

    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((clips, 16000)) * 3000).astype(np.int16)
    got = {}
    for boards in (1, 2):
        t = time.perf_counter()
        got[boards] = board_embeddings(work / "bnn.keras", project, x, boards=boards)
        dt = time.perf_counter() - t
        print(f"streaming pass, {clips} clips on {boards} board{'s' if boards > 1 else ''} without -icount: "
              f"{dt:.1f} s, {dt / clips:.2f} s per clip (QEMU start and model load included)")
    print(f"  embeddings equal on 1 and 2 boards: {np.array_equal(got[1], got[2])}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--pass-clips", type=int, default=16, help="clips of the streaming pass (0: skip it)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mcuforge-stream-") as tmp:
        project = build_firmware(Path(tmp))
        for icount in (True, False):
            r = profile(project.path, icount, args.clips)
            front, backbone, unit = r["counts"]
            label = "with -icount" if icount else "without -icount"
            print(f"{label}: send_clip {r['send_clip_s']:.3f} s (UART ~{r['us_per_byte']:.0f} us/byte, "
                  f"empty round trip {r['empty_rtt_ms']:.2f} ms), invoke {r['invoke_s']:.3f} s, read_output "
                  f"{1e3 * r['read_output_s']:.1f} ms; front end {front:,.0f}, backbone {backbone:,.0f} {unit}"
                  + ("" if icount else " (no instruction counts without -icount)"))
        if args.pass_clips:
            stream_pass(Path(tmp), project, args.pass_clips)


if __name__ == "__main__":
    main()
