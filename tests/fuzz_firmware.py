"""The firmware's C built for the host with clang-14 and ASan/UBSan (no tests here): the
libFuzzer target over the link parser and every message handler (core, frontend, learning,
RNN; tests/fuzz/), its seed
corpus (tests/fuzz/corpus/, one valid frame of every message type and a few sessions), and
the fuzz model's configuration, which the QEMU bounds tests build for the board too.

Used by tests/test_fuzz_firmware.py (a bounded, deterministic run), tests/test_link_cparser.py
and bench/fuzz_firmware.py (10^7 executions). `python tests/fuzz_firmware.py --write-corpus`
rewrites the checked-in seeds from seed_inputs().
"""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FUZZ_DIR = REPO / "tests" / "fuzz"
CORPUS = FUZZ_DIR / "corpus"
FIRMWARE = REPO / "firmware"

CLANG = "clang-14"
APT_HINT = "clang-14 libfuzzer-14-dev libclang-rt-14-dev (the Makefile's APT_PACKAGES; run `make setup`)"
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
STRICT = ["-std=c99", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", "-O2", "-g"]

# The fuzz model's configuration (tests/fuzz/fuzz_model.c): small, so each execution is cheap.
MAX_PAYLOAD = 256
DIM, MAX_CLASSES, PRETRAINED = 8, 4, 2
HEAD_DEFAULTS = {"rule": "tinyol", "lr": 0.05, "batch": 2}
INPUT_SCALE, INPUT_ZERO_POINT = 0.1, 0
BUILD_ID = "f0221234abcd0001"
# The RNN extension's windowing over the same model (one frame = input 0, logits = the first
# RNN_CLASSES values of output 0): overlapping instances (the ring), early exit checked every
# step, a negative class and the bag rule, so a few frames reach every decision.
RNN_WINDOW, RNN_STRIDE, RNN_CLASSES, RNN_KAPPA, RNN_K = 3, 1, 4, 1, 2
RNN_P_HAT, RNN_NEGATIVE = 0.6, 0


def feature_config():
    from mcuforge.data.features import FeatureConfig

    return FeatureConfig(sample_rate=8000, win=64, hop=32, n_fft=64, n_mels=8, fmin=20.0,
                         fmax=4000.0, clip_samples=512)


def head_init() -> tuple[np.ndarray, np.ndarray]:
    """The pretrained head: a formula, not a random draw, so the seed blob is the same everywhere."""
    j, k = np.mgrid[0:PRETRAINED, 0:DIM]
    return (((j * 7 + k * 3) % 11 - 5) / 8).astype(np.float32), (np.arange(PRETRAINED) / 16).astype(np.float32)


def frame_bytes() -> int:
    """Input 0 of the fuzz model: the front end's frames x mels int8, also one RNN frame."""
    cfg = feature_config()
    return cfg.n_frames * cfg.n_mels


def rnn_config() -> str:
    """mf_rnn_config.h of the fuzz build, from the same writer as a generated RNN project's."""
    from mcuforge.graph.ir import Graph, Tensor
    from mcuforge.rnn.rule import RnnRule, render_rnn_config

    rule = RnnRule(frame_bytes(), RNN_WINDOW, RNN_STRIDE, RNN_CLASSES, True, np.float32(RNN_P_HAT),
                   RNN_KAPPA, RNN_NEGATIVE, False, True, RNN_K)
    step = Graph("fuzz_rnn_step", {"frame": Tensor("frame", (1, frame_bytes()), "int8"),
                                   "logits": Tensor("logits", (1, RNN_CLASSES), "float32")},
                 [], ["frame"], ["logits"])
    return render_rnn_config(rule, step, MAX_PAYLOAD)


def write_configs(dest: Path) -> None:
    """mf_head_config.h, mf_frontend_config.h, mf_rnn_config.h, mf_build_id.h and mf_config.h
    of the fuzz build into dest."""
    from mcuforge.frontend import HEADER_NAME, render_frontend_config
    from mcuforge.learning.config import render_head_config

    dest.mkdir(parents=True, exist_ok=True)
    w, b = head_init()
    (dest / "mf_head_config.h").write_text(render_head_config(w, b, MAX_CLASSES, HEAD_DEFAULTS))
    (dest / HEADER_NAME).write_text(render_frontend_config(feature_config(), INPUT_SCALE,
                                                           INPUT_ZERO_POINT))
    (dest / "mf_rnn_config.h").write_text(rnn_config())
    (dest / "mf_build_id.h").write_text(
        f'#ifndef MF_BUILD_ID_H\n#define MF_BUILD_ID_H\n#define MF_BUILD_ID "{BUILD_ID}"\n#endif\n')
    # What a firmware project's generated mf_config.h gives the runtime (this build has no board.json).
    (dest / "mf_config.h").write_text(
        '#ifndef MF_CONFIG_H\n#define MF_CONFIG_H\n#define MF_BOARD_NAME "host-fuzz"\n'
        f"#define MF_BOARD_CLOCK_HZ 1000000u\n#define MF_LINK_MAX_PAYLOAD {MAX_PAYLOAD}\n"
        "#define MF_EXIT_SEMIHOSTING 1\n#define MF_PROFILE 1\n#endif\n")


def clang() -> str:
    cc = shutil.which(CLANG)
    if cc is None:
        raise RuntimeError(f"{CLANG} not found: the sanitizer builds need {APT_HINT}")
    return cc


def compile_host(sources, exe: Path, flags=(), fuzzer: bool = False, cwd: Path | None = None) -> Path:
    """Compile C for the host with ASan/UBSan (+ libFuzzer); raises with the compiler's
    output when that fails: there is no unsanitized fallback."""
    san = SANITIZE
    if fuzzer:
        san = ["-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
               f"-fsanitize-coverage-ignorelist={FUZZ_DIR / 'coverage_ignore.txt'}"]
    argv = [clang(), *STRICT, *san, *flags, *map(str, sources), "-o", str(exe), "-lm"]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        raise RuntimeError(f"sanitizer build failed (needs {APT_HINT}):\n{' '.join(argv)}\n"
                           f"{proc.stderr[-4000:]}")
    return cwd / exe if cwd else exe


def fuzz_sources(firmware: Path = FIRMWARE) -> list[Path]:
    rt = firmware / "runtime"
    return ([FUZZ_DIR / "fuzz_link.c", FUZZ_DIR / "host_board.c", FUZZ_DIR / "fuzz_model.c",
             firmware / "link" / "mf_link.c", rt / "mf_dispatch.c", rt / "mf_handlers_core.c",
             rt / "mf_guard.c"] + sorted((firmware / "learning").glob("*.c"))
            + sorted((firmware / "frontend").glob("*.c")) + sorted((firmware / "rnn").glob("*.c")))


def build_fuzzer(dest: Path, firmware: Path = FIRMWARE) -> Path:
    """The libFuzzer target (dest/fuzz_link) from the firmware sources under ``firmware``.
    The sources are copied under dest/src and compiled by relative names, so the binary is
    the same whichever folders it is built from (the file names ASan and UBSan embed would
    move its globals) and a seeded run takes the same path on every machine."""
    write_configs(dest)
    src = dest / "src"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(FUZZ_DIR, src / "fuzz", ignore=shutil.ignore_patterns("corpus"))
    shutil.copytree(firmware, src / "firmware")
    local = [Path("src/fuzz") / p.name if p.parent == FUZZ_DIR else Path("src/firmware") / p.relative_to(firmware)
             for p in fuzz_sources(firmware)]
    includes = [".", "src/fuzz"] + [f"src/firmware/{d}" for d in ("runtime", "link", "kernels", "learning", "frontend", "rnn")]
    flags = [f"-I{d}" for d in includes] + ["-fdebug-compilation-dir=."]
    return compile_host(local, Path("fuzz_link"), flags, fuzzer=True, cwd=dest)


# ---- seeds -------------------------------------------------------------------------------

def record(type_: int, payload: bytes = b"", seq: int = 1) -> bytes:
    """One record of the target's framed mode: it sends it as a frame with a correct CRC."""
    return struct.pack("<BBH", type_, seq, len(payload)) + payload


def framed(*records: bytes) -> bytes:
    return b"\x01" + b"".join(records)


def _f32(values) -> bytes:
    return np.asarray(values, "<f4").tobytes()


def rnn_frames(*classes: int | None) -> bytes:
    """RNN frames, each making the fuzz model's logits favour one class (None: all equal, an
    unconfident step): out0[k] sums input 0's bytes i = k mod DIM."""
    out = b""
    for c in classes:
        out += bytes(100 if c is not None and i % DIM == c else 0 for i in range(frame_bytes()))
    return out


def bag_frames(first: int, *classes: int | None) -> bytes:
    """A BAG_FRAMES record from frame ``first`` on: first_byte u32 then the frames."""
    return record(0x32, struct.pack("<I", first * frame_bytes()) + rnn_frames(*classes))


def seed_inputs() -> dict[str, bytes]:
    """Seed name -> fuzz input: a valid request of every message type (named by its type),
    then whole sessions, then raw streams (noise and frames)."""
    from mcuforge.learning.rules import Head
    from mcuforge.link import protocol as P

    cfg = feature_config()
    n_in0 = frame_bytes()
    out0 = 4 * DIM
    # 120 samples: a chunk (first_sample u32 + 240 bytes) within MAX_PAYLOAD, or the target
    # sends its header alone and AUDIO_CHUNK is never handled
    audio = (np.arange(120) * 97 % 2000 - 1000).astype("<i2").tobytes()
    blob = Head(*head_init(), MAX_CLASSES, **HEAD_DEFAULTS).state.to_bytes()
    half = len(blob) // 2
    learn_cfg = struct.pack("<BfH", 3, 0.05, 2)
    seeds = {
        "01_hello": framed(record(0x01)),
        "02_ping": framed(record(0x02, b"ping \xa5\x5a")),
        "03_write_input": framed(record(0x03, P.write_input_payload(1, 0, b"\x01\x00\x02\x00"))),
        "04_invoke": framed(record(0x03, P.write_input_payload(0, 0, bytes(range(64)))), record(0x04)),
        "05_read_output": framed(record(0x04), record(0x05, P.read_output_payload(0, 4, 8))),
        "06_read_profile": framed(record(0x04), record(0x06, P.read_profile_payload(0))),
        "07_exit": framed(record(0x07, P.exit_payload(3))),
        "10_frontend_info": framed(record(0x10)),
        "11_audio_begin": framed(record(0x11)),
        "12_audio_chunk": framed(record(0x12, struct.pack("<I", 0) + audio)),
        "13_audio_end": framed(record(0x12, struct.pack("<I", 0) + audio), record(0x13)),
        "14_read_features": framed(record(0x13), record(0x14, struct.pack("<IH", 8, 16))),
        "20_learn_config": framed(record(0x20, learn_cfg), record(0x20)),
        "21_learn_info": framed(record(0x21)),
        "22_add_class": framed(record(0x22), record(0x22), record(0x22)),
        "23_train": framed(record(0x04), record(0x23, b"\x01")),
        "24_predict": framed(record(0x04), record(0x24)),
        "25_eval_embedding": framed(record(0x25, _f32(np.linspace(-1, 1, 2 * DIM)))),
        "26_state_info": framed(record(0x26)),
        "27_read_state": framed(record(0x26), record(0x27, struct.pack("<IH", 0, 64))),
        "28_write_state": framed(record(0x28, struct.pack("<I", 0) + blob[:half]),
                                 record(0x28, struct.pack("<I", half) + blob[half:])),
        "29_learn_reset": framed(record(0x29)),
        "2a_set_embedding": framed(record(0x2A, _f32(np.arange(DIM) / DIM))),
        "30_rnn_info": framed(record(0x30)),
        "31_bag_begin": framed(record(0x31), bag_frames(0, 1)),
        "32_bag_frames": framed(bag_frames(0, 2, 2)),
        "33_bag_end": framed(bag_frames(0, None, 3), record(0x33)),
        "session_infer": framed(
            record(0x03, P.write_input_payload(0, 0, bytes(range(n_in0)))),
            record(0x03, P.write_input_payload(1, 0, b"\x05\x00\x06\x00\x07\x00\x08\x00")),
            record(0x04), record(0x05, P.read_output_payload(0, 0, out0)),
            record(0x05, P.read_output_payload(1, 0, 4)), record(0x06, P.read_profile_payload(1))),
        "session_learn": framed(
            record(0x20, learn_cfg), record(0x22), record(0x2A, _f32(np.ones(DIM))),
            record(0x23, b"\x02"), record(0x2A, _f32(-np.ones(DIM))), record(0x23, b"\x00"),
            record(0x24), record(0x21), record(0x26), record(0x27, struct.pack("<IH", 64, 128))),
        "session_audio": framed(
            record(0x11), record(0x12, struct.pack("<I", 0) + audio),
            record(0x12, struct.pack("<I", 60) + audio[120:]),  # a resend overlapping the first
            record(0x12, struct.pack("<I", 120) + audio), record(0x13), record(0x04),
            record(0x23, b"\x00")),
        # (sessions within the fuzz runs' max_len of 512: a frame is 120 bytes) instances as
        # they fall due (window 3, stride 1) with an early exit, an empty resend acknowledged
        # again, a lost chunk refused, the end repeated, frames after the end refused
        "session_rnn": framed(
            record(0x30), record(0x31), bag_frames(0, 1, 1), bag_frames(2, 1), bag_frames(2),
            bag_frames(9), record(0x33), record(0x33), bag_frames(3), record(0x31), record(0x33)),
        "session_rnn_bag_rule": framed(bag_frames(0, 2, 2), bag_frames(2, 2, None), record(0x33)),
        # a bag of known length (3 frames), its second frame split over two chunks
        "session_rnn_split": framed(
            record(0x31, struct.pack("<I", 3)), bag_frames(0, 1),
            record(0x32, struct.pack("<I", n_in0) + rnn_frames(1)[:50]),
            record(0x32, struct.pack("<I", n_in0 + 50) + rnn_frames(1)[50:] + rnn_frames(1)), record(0x33)),
        # the fuzzer's first find: a huge lr overflows the head to inf, the next softmax sees
        # NaN logits, and mf_head_expf converted NaN to int (undefined behaviour)
        "found_nan_logits": framed(
            record(0x20, struct.pack("<BfH", 0, 3e38, 1)), record(0x2A, _f32(np.full(DIM, 1e30))),
            record(0x23, b"\x00"), record(0x23, b"\x01"), record(0x24)),
        "raw_frames": b"\x00" + b"".join([P.encode_frame(0x02, 5, b"abc"), b"\x13\xa5",
                                          P.encode_frame(0x21, 6), P.encode_frame(0x04, 7)]),
        "raw_noise": b"\x00" + bytes((i * 151 + 7) & 0xFF for i in range(300)) + P.SYNC,
        "raw_too_long": b"\x00" + P.SYNC + struct.pack("<BBH", 0x02, 9, MAX_PAYLOAD + 1) + bytes(40),
    }
    return seeds


def write_corpus(dest: Path = CORPUS) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.iterdir():
        old.unlink()
    for name, data in seed_inputs().items():
        (dest / name).write_bytes(data)


# ---- running -------------------------------------------------------------------------------

@dataclass
class FuzzResult:
    executions: int
    seconds: float
    crashes: int           # inputs that crashed or aborted (libFuzzer stops at the first)
    hangs: int             # inputs over the per-input timeout
    sanitizer_reports: int  # ASan/UBSan reports
    returncode: int
    log: str
    interrupted: bool = False  # stopped by SIGINT before its runs: the counts so far are real


    @property
    def rate(self) -> float:
        return self.executions / self.seconds if self.seconds else 0.0

    @property
    def clean(self) -> bool:
        return self.returncode == 0 and not (self.crashes or self.hangs or self.sanitizer_reports)


def parse_log(log: str, returncode: int, seconds: float) -> FuzzResult:
    """The figures of one libFuzzer (or atheris) run from its log. A run stopped by SIGINT is
    ``interrupted``, not a crash: libFuzzer prints "run interrupted" and its final stats, atheris
    (Python's own SIGINT handler) "KeyboardInterrupt: stopping." and no stats, so its count is the
    last progress line's (a lower bound)."""
    stat = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    done = re.search(r"Done (\d+) runs", log)
    progress = re.findall(r"^#(\d+)\s", log, re.M)
    executions = int((stat or done).group(1)) if stat or done else int(progress[-1]) if progress else 0
    reports = len(re.findall(r"^SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer)", log, re.M))
    reports += len(re.findall(r"runtime error:", log)) if not reports else 0
    hangs = len(re.findall(r"ERROR: libFuzzer: timeout", log))
    crashes = len(re.findall(r"ERROR: libFuzzer: (deadly signal|crash)|==ERROR: ", log))
    interrupted = "libFuzzer: run interrupted" in log or "KeyboardInterrupt: stopping." in log
    if returncode != 0 and not (crashes or hangs or reports or interrupted):
        crashes = 1
    return FuzzResult(executions, seconds, crashes, hangs, reports, returncode, log, interrupted)


def _result(proc: subprocess.CompletedProcess, seconds: float) -> FuzzResult:
    return parse_log(proc.stderr + proc.stdout, proc.returncode, seconds)


# libFuzzer's value profile records the addresses a compare sees, so with address-space
# randomisation (and a stack that moves with the environment and argv) a fixed -seed still takes
# a different path on every run and machine: a bounded run is only reproducible when the target
# starts at fixed addresses, with the same environment and the same argv.
_FIXED_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C"}


def _no_aslr() -> list[str]:
    """The argv prefix that starts the target without address randomisation: util-linux's
    setarch (no preexec_fn, which is unsafe in bench/fuzz_firmware.py's thread pool). Where
    it is missing the run is still correct, only not reproducible."""
    import platform

    return ["setarch", platform.machine(), "-R"] if shutil.which("setarch") else []


def run_fuzzer(exe: Path, runs: int, workdir: Path, seed: int = 1, corpus: Path = CORPUS,
               timeout_s: int = 10, max_len: int = 512) -> FuzzResult:
    """Replay the seed corpus, then ``runs`` mutated executions (stopping at the first report),
    the same executions for a seed on any machine and in any folder. New inputs go to
    workdir/corpus, never into the checked-in seeds."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "corpus").mkdir(exist_ok=True)
    for link, target in (("target", exe.resolve()), ("seeds", corpus.resolve())):
        (workdir / link).unlink(missing_ok=True)
        (workdir / link).symlink_to(target)
    argv = [*_no_aslr(), "./target", "corpus", "seeds", f"-runs={runs}", f"-seed={seed}",
            f"-timeout={timeout_s}", f"-max_len={max_len}", "-rss_limit_mb=2048", "-print_final_stats=1",
            "-artifact_prefix=./"]
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=workdir, env=_FIXED_ENV)
    return _result(proc, time.monotonic() - t0)


def covered_functions(exe: Path, corpus: Path, workdir: Path) -> set[tuple[str, str]]:
    """(source file name, function) of each function the replay of ``corpus`` reaches
    (libFuzzer's -print_coverage)."""
    empty = workdir / "empty"
    empty.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([str(exe), str(empty), str(corpus), "-runs=0", "-print_coverage=1"],
                          capture_output=True, text=True, cwd=workdir)
    found = re.findall(r"^COVERED_FUNC: .* (\w+) \S*?([^/\s]+):\d+$", proc.stderr + proc.stdout, re.M)
    return {(src, fn) for fn, src in found}


def replay(exe: Path, files, workdir: Path) -> FuzzResult:
    """Run the target once on each file (no mutation)."""
    files = [str(f) for f in files]
    t0 = time.monotonic()
    proc = subprocess.run([str(exe), "-runs=1", *files], capture_output=True, text=True, cwd=workdir)
    res = _result(proc, time.monotonic() - t0)
    res.executions = res.executions or len(files)
    return res


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-corpus"]:
        sys.path.insert(0, str(REPO / "toolchain"))
        write_corpus()
        print(f"wrote {len(seed_inputs())} seeds to {CORPUS}")
    else:
        sys.exit("usage: python tests/fuzz_firmware.py --write-corpus")
