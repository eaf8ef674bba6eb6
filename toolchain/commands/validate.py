"""``mcuforge validate``: run inputs on the board and compare every output with the TFLM interpreter."""
from __future__ import annotations

import sys

import numpy as np

from ..errors import EXIT_CHECK_FAILED, EXIT_OK
from ..validation import Validation, load_inputs, validate
from . import _common


def add_parser(sub) -> None:
    p = sub.add_parser("validate", help="run a model on the board and compare outputs with TFLM (bit-exact for int8)",
                       description=_common.doc(__doc__))
    p.add_argument("model", help="int8 .tflite model, BNN .keras, or .rnn.keras time-series classifier")
    _common.add_board(p)
    p.add_argument("--inputs", metavar="X.npy", help="inputs stacked on axis 0, model input dtype/shape without batch")
    p.add_argument("--samples", type=_common.positive_int, default=None,
                   help="random inputs when --inputs is not given (default 10); with --data: the first N bags "
                        "(default all)")
    p.add_argument("--data", metavar="DATA", default=None,
                   help="RNN models: the sequences whose test split is streamed to the board bag by bag "
                        "(aeon:NAME, FILE.npz, or a keyword folder); compared with the numpy twin of the device")
    p.add_argument("--audio", action="store_true",
                   help="keyword RNN models with --data KWS_DIR: stream each clip's int16 16 kHz audio; the board's "
                        "log-mel front end makes the frames one by one (not on the Uno: it has not the RAM)")
    p.add_argument("--seed", type=_common.natural_int, default=0, help="seed for random inputs")
    p.add_argument("--save-outputs", metavar="Y.npy", help="write the board's raw outputs (stacked on axis 0)")
    p.add_argument("--project", metavar="DIR", default=None,
                   help="validate the firmware already generated in DIR as it is (built if needed), not a new one")
    _common.add_json(p)
    _common.add_db(p)
    _common.add_workdir(p)
    p.set_defaults(func=run)


def print_summary(v: Validation, out=None) -> None:
    out = out or sys.stdout  # looked up now: the CLI moves stdout to stderr for --json -
    s = v.summary()
    emulated = v.cycles_kind == "emulated-instructions"
    kind = {"emulated-instructions": "emulated instructions per inference (QEMU -icount; not a hardware timing)",
            "simulated-cycles": "simulated cycles per inference (simavr; not measured on hardware)"}.get(
                v.cycles_kind, "cycles per inference")
    if v.milliseconds_median is not None:
        kind += f", {v.milliseconds_median:,.2f} ms at {v.clock_hz / 1e6:g} MHz"
    per = "MACs/instruction" if emulated else "MACs/cycle"
    verdict = f"bit-exact vs the {v.reference}" if v.ok else f"{v.mismatches} of {v.samples} samples DIFFER from the {v.reference}"
    print(f"{v.board}: {v.samples} samples, {verdict} (max |diff| {v.max_abs_diff:g})", file=out)
    if s["cycles_median"] is not None:
        print(f"  latency  {s['cycles_median']:,.0f} {kind}", file=out)
        print(f"  compute  {v.macs:,} MACs, {s['macs_per_cycle']:.3f} {per}", file=out)
    ratio = f" ({s['arena_ratio']:.2f}x TFLM's {v.reference_arena_bytes:,})" if s["arena_ratio"] else ""
    print(f"  memory   flash {v.flash_bytes:,} B, RAM {v.ram_bytes:,} B, arena {v.arena_bytes:,} B{ratio}", file=out)
    if v.runtime_ram_bytes is not None:
        print(f"  runtime  {v.runtime_ram_bytes:,} B static RAM besides the arena, {v.stack_bytes:,} B stack", file=out)


def print_rnn_summary(v, out=None) -> None:
    out = out or sys.stdout  # looked up now: the CLI moves stdout to stderr for --json -
    s = v.summary()
    verdict = ("every bag decided as by the twin" if v.mismatches == 0
               else f"{v.mismatches} of {v.samples} bags DIFFER from the twin")
    streamed = " (audio through the board's front end)" if v.input == "audio" else ""
    print(f"{v.board}: {v.samples} bags of {v.data} ({v.split}){streamed}, {verdict}", file=out)
    print(f"  accuracy board {v.accuracy_board:.2%}, host {v.accuracy_host:.2%}"
          + (f" (Keras at training: {v.accuracy_training:.2%})" if v.accuracy_training is not None else ""), file=out)
    print(f"  steps    {v.mean_steps:,.1f} cell steps per bag of {v.full_steps:,.0f} "
          f"({s['savings']:.2f}x saved by early exit), mean exit step {v.mean_exit_step:.2f}", file=out)
    if s["cycles_median"] is not None:
        rnn = f" ({s['rnn_cycles_median']:,.0f} of them the RNN's)" if s["rnn_cycles_median"] is not None else ""
        print(f"  latency  {s['cycles_median']:,.0f} {_kind_text(v)} per bag{rnn}", file=out)
    print(f"  link     {v.link_bytes_per_bag:,.0f} B of {v.input} sent per bag", file=out)
    print(f"  memory   flash {v.flash_bytes:,} B, RAM {v.ram_bytes:,} B, arena {v.arena_bytes:,} B", file=out)


def _kind_text(v) -> str:
    kind = {"emulated-instructions": "emulated instructions (QEMU -icount; not a hardware timing)",
            "simulated-cycles": "simulated cycles (simavr; not measured on hardware)"}.get(v.cycles_kind, "cycles")
    if v.milliseconds_median is not None:
        kind += f", {v.milliseconds_median:,.2f} ms at {v.clock_hz / 1e6:g} MHz"
    return kind


def run(args) -> int:
    from ..project import read_manifest
    from ..model.loader import load

    if args.project:
        args.board = read_manifest(args.project)["board"]
    _common.check_target(args)
    model = load(args.model)
    inputs = load_inputs(args.inputs, model.graph) if args.inputs else None
    store = _common.open_store(args)
    v = validate(model, args.board, inputs=inputs, samples=args.samples, seed=args.seed,
                 workdir=args.workdir, store=store, method=args.method, port=args.port,
                 progress=_common.progress(), project=args.project, data=args.data, audio=args.audio)
    if model.kind == "rnn":
        print_rnn_summary(v)
    else:
        if args.save_outputs:
            np.save(args.save_outputs, np.stack(v.outputs))
        print_summary(v)
    _common.write_json(args.json, v.summary())
    return EXIT_OK if v.ok else EXIT_CHECK_FAILED
