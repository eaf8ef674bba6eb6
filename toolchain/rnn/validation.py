"""``validate`` for an RNN: stream every bag of a data set's split to the board and compare the
board's bag class, instance classes and exit steps with the numpy twin of the device
(``mcuforge.rnn.reference``), bag by bag; accuracy on the board and on the host."""
from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UsageError
from .reference import BagResult, frames_for, run_bag
from .rule import RnnRule


@dataclass
class RnnValidation:
    board: str
    samples: int
    mismatches: int                 # bags whose class, instances, steps or exits differ from the twin
    accuracy_board: float
    accuracy_host: float
    cycles: list[int]               # per bag, in cycles_kind
    cycles_kind: str
    mean_exit_step: float           # cell steps per instance (the window length without early exit)
    mean_steps: float               # cell steps per bag
    full_steps: float               # cell steps per bag without early exit
    flash_bytes: int
    ram_bytes: int
    arena_bytes: int
    model_hash: str
    firmware_hash: str
    data: str
    split: str
    clock_hz: int | None = None
    runtime_ram_bytes: int | None = None
    stack_bytes: int | None = None
    accuracy_training: float | None = None  # what training measured with Keras on this split (when recorded)
    input: str = "frames"                   # what the host streamed: "frames", or "audio" (the board's front end)
    rnn_cycles: list[int] = field(default_factory=list)  # audio: the RNN's part of each bag's cycles
    link_bytes_per_bag: float = 0.0         # payload bytes the host sent per bag (samples or frames)
    board_results: list[BagResult] = field(repr=False, default_factory=list)
    host_results: list[BagResult] = field(repr=False, default_factory=list)
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.mismatches == 0 and self.accuracy_board == self.accuracy_host

    @property
    def milliseconds_median(self) -> float | None:
        """Median time per bag at the board's clock where the counts are clock cycles."""
        if not self.cycles or not self.clock_hz or self.cycles_kind not in ("hardware", "simulated-cycles"):
            return None
        return float(np.median(self.cycles)) * 1e3 / self.clock_hz

    def summary(self) -> dict:
        return dict(
            board=self.board, data=self.data, split=self.split, samples=self.samples, mismatches=self.mismatches,
            accuracy_board=self.accuracy_board, accuracy_host=self.accuracy_host,
            accuracy_training=self.accuracy_training,
            cycles_median=float(np.median(self.cycles)) if self.cycles else None, cycles_kind=self.cycles_kind,
            milliseconds_median=self.milliseconds_median, mean_exit_step=self.mean_exit_step,
            mean_steps=self.mean_steps, full_steps=self.full_steps,
            savings=self.full_steps / self.mean_steps if self.mean_steps else None,
            flash_bytes=self.flash_bytes, ram_bytes=self.ram_bytes, arena_bytes=self.arena_bytes,
            runtime_ram_bytes=self.runtime_ram_bytes, stack_bytes=self.stack_bytes,
            model_hash=self.model_hash, firmware_hash=self.firmware_hash, run_id=self.run_id,
            input=self.input, link_bytes_per_bag=self.link_bytes_per_bag,
            rnn_cycles_median=float(np.median(self.rnn_cycles)) if self.rnn_cycles else None,
            reference="numpy twin of the device's RNN windowing (mcuforge.rnn.reference)"
            + (" on the clip's host features (FeatureConfig.extract)" if self.input == "audio" else ""))


def load_bags(data: str, meta: dict, split: str = "test", samples: int | None = None):
    """(X [N, T, d], y [N]) of ``split`` of ``data`` (anything ``load_sequences`` reads), checked
    against the model's input size and labels."""
    from ..data.sequences import load_sequences

    try:
        ds = load_sequences(data)
        X, y = ds.split(split)
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(f"--data {data}: {exc}") from None
    if X.shape[2] != meta["input_dim"]:
        raise UsageError(f"--data {data}: frames of {X.shape[2]} values; the model takes {meta['input_dim']}")
    if list(ds.labels) != list(meta["labels"]):
        raise UsageError(f"--data {data}: labels {ds.labels} differ from the model's {meta['labels']}")
    if samples is not None:
        X, y = X[:samples], y[:samples]
    return X, y


def load_clips(data: str, meta: dict, split: str = "test", samples: int | None = None):
    """(int16 clips [N, clip samples], y [N]) of ``split`` of a keyword folder, in the order and
    with the labels ``load_sequences`` gives its frames (silence and unknown: the negative class)."""
    from ..data.sequences import KWS_POSITIVES
    from ..data.speech_commands import SILENCE, UNKNOWN, load_split
    from .audio import feature_config

    cfg = feature_config(meta)
    if not Path(str(data)).is_dir():
        raise UsageError(f"--audio streams the clips of a keyword folder (mcuforge data kws); --data {data} is not one")
    try:
        W, y, _ = load_split(data, [SILENCE, UNKNOWN, *KWS_POSITIVES], split, features=None)
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(f"--data {data}: {exc}") from None
    y = np.maximum(y - 1, 0)  # as sequences._kws: silence 0, unknown 1 -> the negative class 0
    if W.shape[1] != cfg.clip_samples:
        raise UsageError(f"--data {data}: clips of {W.shape[1]} samples; the model's features take {cfg.clip_samples}")
    clips = np.round(W.astype(np.float64) * 32768.0).astype(np.int16)  # to_float's int16 / 32768, undone exactly
    if samples is not None:
        clips, y = clips[:samples], y[:samples]
    return clips, y


def validate_rnn(model, board: str, data: str, split: str = "test", samples: int | None = None, workdir=None,
                 store=None, method=None, port=None, progress: bool = True, project=None,
                 flash_options: dict | None = None, audio: bool = False) -> RnnValidation:
    """Generate, build and flash the RNN ``model`` (or use ``project``), run every bag of
    ``data``'s ``split`` on the board and on the twin, and compare. With ``audio`` (a keyword
    folder) the host streams each clip's int16 audio and the board's front end makes the frames
    (``mcuforge.rnn.audio``); the twin runs on the host's features of the same clip."""
    from tqdm import tqdm

    from ..model.loader import load
    from ..target import open_target
    from ..validation import finish_recording, start_recording
    from .audio import check_frontend, feature_config, host_frames, send_audio_bag
    from .client import check_rule, send_bag

    loaded = load(model)
    graph, meta = loaded.graph, loaded.meta
    if audio:
        X, y = load_clips(data, meta, split, samples)
        cfg = feature_config(meta)
    else:
        X, y = load_bags(data, meta, split, samples)
    rule = RnnRule.from_meta(meta, classes=graph.tensors[graph.outputs[0]].size)
    steps = cfg.n_frames if audio else X.shape[1]  # frames per bag
    if project is not None:
        from ..project import load_project

        project = load_project(project, loaded)
        board = project.board.name
    with open_target(loaded, board, workdir=workdir, method=method, port=port, project=project,
                     flash_options=flash_options, audio=audio) as target:
        check_rule(target.link, rule)
        if audio:
            check_frontend(target.link, meta)
        recording = start_recording(store, target, board)
        bar = tqdm(total=len(X), desc="validate", unit="bag", disable=not progress, file=sys.stderr)
        with recording as run, contextlib.closing(bar):
            boards, hosts, cycles, rnn_cycles, sent, mismatches = [], [], [], [], 0, 0
            graph = target.project.graph  # the board's number format (fixed point without an FPU)
            for i, (bag, label) in enumerate(zip(X, y)):
                if audio:  # the board's frames from the clip; the twin's from the host's features of it
                    got, ticks = send_audio_bag(target.link, bag)
                    frames = host_frames(graph, cfg, bag)
                    rnn_cycles.append(target.cycles(got.ticks))
                else:
                    frames = frames_for(graph, bag)
                    got = send_bag(target.link, frames)
                    ticks = got.ticks
                sent += np.asarray(bag).astype(np.int16).nbytes if audio else frames.nbytes
                want = run_bag(graph, rule, frames)
                bad = not got.same_decisions(want)
                mismatches += bad
                boards.append(got)
                hosts.append(want)
                cycles.append(target.cycles(ticks))
                if run is not None:
                    run.samples([dict(index=i, mismatches=int(bad), cycles=cycles[-1], label=int(label),
                                      predicted=got.cls, host_predicted=want.cls, steps=got.steps,
                                      instances=got.instances)])
                bar.update(1)
                bar.set_postfix(mismatches=mismatches)
            size = target.build
            instances = sum(b.instances for b in boards)
            report = meta.get("report") or {}
            result = RnnValidation(
                board=board, samples=len(X), mismatches=mismatches,
                accuracy_board=float(np.mean([b.cls == t for b, t in zip(boards, y)])),
                accuracy_host=float(np.mean([h.cls == t for h, t in zip(hosts, y)])),
                cycles=cycles, cycles_kind=target.cycles_kind,
                mean_exit_step=sum(b.steps for b in boards) / instances,
                mean_steps=float(np.mean([b.steps for b in boards])),
                full_steps=float(np.mean([b.instances * min(rule.window, steps) for b in boards])),
                flash_bytes=size.flash_bytes, ram_bytes=size.ram_bytes, arena_bytes=target.project.plan.arena_bytes,
                model_hash=target.project.model_hash, firmware_hash=target.project.firmware_hash,
                data=str(data), split=split, clock_hz=target.hello.clock_hz,
                runtime_ram_bytes=size.sizes.runtime_ram_bytes, stack_bytes=size.stack,
                accuracy_training=report.get(f"{split}_accuracy") if samples is None else None,
                input="audio" if audio else "frames", rnn_cycles=rnn_cycles, link_bytes_per_bag=sent / len(X),
                board_results=boards, host_results=hosts, run_id=run.id if run else None)
            finish_recording(store, run, result)
    return result
