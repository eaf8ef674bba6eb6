"""What a fleet runs: the same job on every board, its work items spread over them.

- ``ValidateJob``: samples (each compared with the host reference, bit-exact for int8);
- ``ProfileJob``: profiled invocations (per-layer counts, medians per board and over the fleet);
- ``BenchJob``: models (each built, flashed and validated on a few samples, with its counts and bytes);
- ``EmbedJob``: raw audio clips through a BNN keyword spotter's front end and backbone (each clip's
  embedding, the input of later learning sessions; run without a results store).

A job builds its firmware on the host before any board starts (``prepare``: once per model and
board name, whatever the number of boards); a board's thread talks to its board (``run_item``, the
host reference of its item computed under a lock) and writes what it measured (``record``)."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError


@dataclass
class Firmware:
    project: object  # mcuforge.project.Project
    build: object  # mcuforge.build.make.BuildResult


def _build(loaded, board: str, out_dir: Path) -> Firmware:
    from ..build.make import build
    from ..project import generate

    project = generate(loaded, board, out_dir)
    return Firmware(project, build(project.path))


def _median(values) -> float | None:
    return float(np.median(values)) if len(values) else None


class _OneModelJob:
    """A job over one model: every board runs the same firmware (one build per board name), or
    the firmware already generated in ``project`` as it is (built if needed)."""

    kind = ""

    def __init__(self, model, project=None):
        from ..model.loader import load

        self.loaded = load(model)
        if self.loaded.kind == "rnn":
            raise UsageError("fleet runs int8 .tflite and BNN .keras models; validate an RNN with 'mcuforge validate'")
        self.project = project
        self.firmware: dict[str, Firmware] = {}

    def check(self, boards, method: str | None) -> None:
        """Refuse what cannot run, before anything is built (every board runs this one firmware)."""

    def prepare(self, board_names, workdir: Path, step=lambda msg: None) -> None:
        if self.project is not None:
            from ..build.make import build
            from ..project import load_project

            project = load_project(self.project, self.loaded)
            others = sorted(set(board_names) - {project.board.name})
            if others:
                raise UsageError(f"--project {self.project} holds firmware for {project.board.name}, not for "
                                 f"{', '.join(others)}")
            step(f"build {self.project}")
            self.firmware[project.board.name] = Firmware(project, build(project.path))
            return
        for name in sorted(set(board_names)):
            step(f"generate and build for {name}")
            self.firmware[name] = _build(self.loaded, name, workdir / name)

    def firmware_for(self, item, board_name: str) -> Firmware:
        return self.firmware[board_name]

    def layer_rows(self, results: list[dict], board_name: str) -> list[dict]:
        """Per-layer rows of a board's run (a profile's medians; none for the other jobs)."""
        return []

    def identity(self, board_name: str) -> dict:
        p = self.firmware[board_name].project
        return dict(model_name=p.manifest["model_name"], model_hash=p.model_hash, firmware_hash=p.firmware_hash)

    @property
    def model_name(self) -> str:
        return next(iter(self.firmware.values())).project.manifest["model_name"]


class ValidateJob(_OneModelJob):
    kind = "validate"

    def __init__(self, model, inputs: np.ndarray | None = None, samples: int = 10, seed: int = 0, project=None):
        super().__init__(model, project)
        from ..validation import host_reference, make_inputs

        self.inputs = make_inputs(self.loaded.graph, samples, seed) if inputs is None else inputs
        if len(self.inputs) == 0:
            raise UsageError("no inputs to validate (samples must be >= 1)")
        self._reference, self.reference_arena_bytes, self.reference_name = host_reference(self.loaded)
        self._reference_lock = threading.Lock()  # one interpreter, shared by the boards' threads
        self.items = list(range(len(self.inputs)))

    def run_item(self, target, index: int) -> dict:
        from ..validation import compare_outputs

        got, cycles = target.run([self.inputs[index][None]])
        with self._reference_lock:
            want = self._reference.run([self.inputs[index][None]])
        bad, diff = compare_outputs(got, want)
        return dict(index=index, mismatches=bad, max_abs_diff=diff, cycles=int(cycles))

    def record(self, run, index: int, result: dict) -> None:
        run.samples([result])

    def summarize(self, results: list[dict]) -> dict:
        cycles = [r["cycles"] for r in results]
        return dict(samples=len(results), mismatches=sum(1 for r in results if r["mismatches"]),
                    max_abs_diff=max((r["max_abs_diff"] for r in results), default=0.0),
                    cycles_median=_median(cycles), cycles_min=min(cycles, default=None),
                    cycles_max=max(cycles, default=None))


class ProfileJob(_OneModelJob):
    kind = "profile"

    def __init__(self, model, runs: int = 3, seed: int = 0, project=None):
        super().__init__(model, project)
        from ..validation import make_inputs

        self.inputs = make_inputs(self.loaded.graph, runs, seed)
        self.items = list(range(runs))

    def run_item(self, target, index: int) -> dict:
        _, total, rows = target.run_profiled([self.inputs[index][None]])
        return dict(index=index, cycles=int(total), layers=[int(r["cycles"]) for r in rows])

    def record(self, run, index: int, result: dict) -> None:
        run.samples([dict(index=index, cycles=result["cycles"], layer_cycles=result["layers"])])

    def layer_rows(self, results: list[dict], board_name: str) -> list[dict]:
        """Per-layer medians over ``results``, with each layer's MACs and share."""
        from ..profiling import layer_medians

        return layer_medians(self.firmware[board_name].project.manifest, [r["layers"] for r in results])

    def summarize(self, results: list[dict]) -> dict:
        cycles = [r["cycles"] for r in results]
        return dict(runs=len(results), total_cycles=_median(cycles), cycles_min=min(cycles, default=None),
                    cycles_max=max(cycles, default=None))


class BenchJob:
    """Models spread over the boards: each is built once per board name, then validated on
    ``samples`` inputs on whichever board takes it."""

    kind = "bench"

    def __init__(self, models: list, samples: int = 3, seed: int = 0):
        from ..model.loader import load
        from ..validation import host_reference, make_inputs

        if not models:
            raise UsageError("fleet bench needs at least one model")
        self.models = [load(m) for m in models]
        names = [m.graph.name for m in self.models]
        if len(set(names)) != len(names):
            raise UsageError(f"fleet bench: two models have the same name ({', '.join(names)}); rename one")
        self.inputs, self.expected = [], []
        for m in self.models:
            if m.kind == "rnn":
                raise UsageError(f"fleet bench runs int8 .tflite and BNN .keras models, not the RNN {m.graph.name}")
            x = make_inputs(m.graph, samples, seed)
            reference, _, _ = host_reference(m)
            self.inputs.append(x)
            self.expected.append([reference.run([xi[None]]) for xi in x])
        self.items = names
        self.firmware: dict[tuple[str, str], Firmware] = {}
        self.model_name = None

    def check(self, boards, method: str | None) -> None:
        """A real board runs another model only once it is flashed with it: bench needs --method there."""
        if method is None and len(self.models) > 1 and any(b.port for b in boards):
            raise UsageError("fleet bench flashes each model onto the board that takes it: give real boards "
                             "(--ports) a flash --method")

    def prepare(self, board_names, workdir: Path, step=lambda msg: None) -> None:
        for name in sorted(set(board_names)):
            for m in self.models:
                step(f"generate and build {m.graph.name} for {name}")
                self.firmware[(m.graph.name, name)] = _build(m, name, workdir / name / m.graph.name)

    def firmware_for(self, item: str, board_name: str) -> Firmware:
        return self.firmware[(item, board_name)]

    def identity(self, board_name: str) -> dict:
        return {}

    def layer_rows(self, results: list[dict], board_name: str) -> list[dict]:
        return []

    def run_item(self, target, name: str) -> dict:
        from ..validation import compare_outputs

        i = self.items.index(name)
        bad, diff, cycles = 0, 0.0, []
        for x, want in zip(self.inputs[i], self.expected[i]):
            got, cyc = target.run([x[None]])
            n, d = compare_outputs(got, want)
            bad, diff = bad + (n > 0), max(diff, d)
            cycles.append(int(cyc))
        fw = target.project
        return dict(model=name, samples=len(cycles), mismatches=bad, max_abs_diff=diff,
                    cycles_median=_median(cycles), macs=fw.macs, flash_bytes=target.build.flash_bytes,
                    ram_bytes=target.build.ram_bytes, arena_bytes=fw.plan.arena_bytes)

    def record(self, run, name: str, result: dict) -> None:
        run.metrics({k: v for k, v in result.items() if k not in ("model",)}, model=name)

    def summarize(self, results: list[dict]) -> dict:
        return dict(models=len(results), samples=sum(r["samples"] for r in results),
                    mismatches=sum(r["mismatches"] for r in results),
                    max_abs_diff=max((r["max_abs_diff"] for r in results), default=0.0))


class EmbedJob(_OneModelJob):
    """Clips of int16 audio streamed to the learning firmware in ``project``: the board's front end
    fills the model input, INVOKE runs the backbone, output 0 is the clip's embedding. Nothing is
    recorded here: the learning sessions that replay the embeddings store what they use."""

    kind = "embed"

    def __init__(self, model, clips: np.ndarray, project):
        super().__init__(model, project)
        from ..frontend.client import send_clip
        from ..learning.session import clip_source

        self._source = clip_source(clips, send_clip)
        self.items = list(range(len(clips)))

    def run_item(self, target, index: int) -> dict:
        self._source(target.link, index)
        return dict(index=index, embedding=np.frombuffer(target.link.read_output(0), "<f4").copy())

    def record(self, run, index: int, result: dict) -> None:
        raise NotImplementedError("an embed fleet runs without a results store")

    def summarize(self, results: list[dict]) -> dict:
        return dict(clips=len(results))
