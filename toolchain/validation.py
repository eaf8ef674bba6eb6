"""Validation on the target: run inputs on the board and compare every output with the host
reference (the TFLM interpreter for an int8 .tflite, the numpy reference of the folded graph for
a BNN). ``validate(model, board)`` is the one call; ``mcuforge validate`` prints what it returns.
"""
from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field

import numpy as np

from .boards import DEFAULT_BOARD
from .errors import UsageError


@dataclass
class Validation:
    board: str
    samples: int
    mismatches: int
    mismatched_elements: int
    max_abs_diff: float
    cycles: list[int]
    cycles_kind: str
    macs: int
    arena_bytes: int
    reference_arena_bytes: int
    flash_bytes: int
    ram_bytes: int
    model_hash: str
    firmware_hash: str
    outputs: list[np.ndarray] = field(repr=False, default_factory=list)
    run_id: int | None = None
    reference: str = "TFLM interpreter"
    clock_hz: int | None = None  # the board's CPU clock, for counts that are cycles
    runtime_ram_bytes: int | None = None  # static RAM besides arena and stack (from the ELF)
    stack_bytes: int | None = None  # the stack reserved for it

    @property
    def milliseconds_median(self) -> float | None:
        """Median inference time at the board's clock, where the counts are clock cycles
        (hardware, or simulated by simavr); None for emulated instructions."""
        if not self.cycles or not self.clock_hz or self.cycles_kind not in ("hardware", "simulated-cycles"):
            return None
        return float(np.median(self.cycles)) * 1e3 / self.clock_hz

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def summary(self) -> dict:
        med = float(np.median(self.cycles)) if self.cycles else None
        return dict(
            board=self.board, samples=self.samples, mismatches=self.mismatches,
            mismatched_elements=self.mismatched_elements, max_abs_diff=self.max_abs_diff,
            cycles_median=med, cycles_kind=self.cycles_kind, macs=self.macs,
            macs_per_cycle=(self.macs / med) if med else None,
            arena_bytes=self.arena_bytes, reference_arena_bytes=self.reference_arena_bytes,
            arena_ratio=(self.arena_bytes / self.reference_arena_bytes) if self.reference_arena_bytes else None,
            flash_bytes=self.flash_bytes, ram_bytes=self.ram_bytes, runtime_ram_bytes=self.runtime_ram_bytes,
            stack_bytes=self.stack_bytes, milliseconds_median=self.milliseconds_median,
            model_hash=self.model_hash, firmware_hash=self.firmware_hash, run_id=self.run_id,
            reference=self.reference,
        )


def input_spec(graph) -> tuple[tuple[int, ...], np.dtype]:
    if len(graph.inputs) != 1:
        raise UsageError(f"model has {len(graph.inputs)} inputs; validate takes models with one input")
    t = graph.tensors[graph.inputs[0]]
    return tuple(t.shape[1:]), np.dtype(t.dtype)


def make_inputs(graph, samples: int, seed: int) -> np.ndarray:
    shape, dtype = input_spec(graph)
    rng = np.random.default_rng(seed)
    if dtype.kind == "f":
        return rng.standard_normal((samples, *shape)).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, size=(samples, *shape)).astype(dtype)


NPY_MAGIC = b"\x93NUMPY"


def load_inputs(path, graph) -> np.ndarray:
    shape, dtype = input_spec(graph)
    try:
        with open(path, "rb") as f:
            magic = f.read(len(NPY_MAGIC))
    except OSError as e:
        raise UsageError(f"cannot read inputs {path}: {e.strerror}") from None
    if magic != NPY_MAGIC:
        raise UsageError(f"{path}: not a .npy file (write inputs with numpy.save, stacked on axis 0)")
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise UsageError(f"{path}: not a plain numpy array ({e})") from None
    if x.dtype != dtype:
        raise UsageError(f"{path}: inputs are {x.dtype}, the model's input is {dtype}")
    if tuple(x.shape[1:]) != shape:
        if tuple(x.shape) == shape:
            x = x[None]
        else:
            raise UsageError(f"{path}: inputs have shape {x.shape}; expected (N, {', '.join(map(str, shape))})")
    if len(x) == 0:
        raise UsageError(f"{path}: holds 0 inputs; nothing to validate")
    return x


def start_recording(store, target, board: str, kind: str = "validate"):
    """The store's run of a validation (or profile) on ``target`` (a null context without a
    store), started once the board runs: marked failed or interrupted if the loop dies, every
    sample kept."""
    if store is None:
        return contextlib.nullcontext()
    return store.run(kind, model_name=target.project.manifest["model_name"],
                     model_hash=target.project.model_hash, board=board,
                     firmware_hash=target.project.firmware_hash, cycles_kind=target.cycles_kind)


def finish_recording(store, run, result) -> None:
    """Store ``result``'s numeric summary as metrics and end the run ok or failed."""
    if run is None:
        return
    summary = result.summary()
    run.metrics({k: v for k, v in summary.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "run_id"})
    store.finish_run(run.id, status="ok" if result.ok else "failed", summary=summary)


def host_reference(loaded):
    """The host reference of a loaded model: (object with ``run(inputs)``, its arena bytes, its
    name). TFLM for an int8 .tflite; the numpy executor of the folded graph for a BNN, which has
    no TFLM counterpart (arena 0)."""
    if loaded.source is not None:
        from .reference.tflm import TflmModel, tflm_arena_bytes

        return TflmModel(loaded.source), tflm_arena_bytes(loaded.source), "TFLM interpreter"
    if loaded.meta is None:
        raise UsageError("validate needs a .tflite model (checked against TFLM) or a BNN .keras "
                         "(checked against the numpy reference of its folded graph)")
    from .reference.executor import run_graph

    graph = loaded.graph

    class _Numpy:
        def run(self, xs):
            return run_graph(graph, xs)

    return _Numpy(), 0, "numpy reference of the folded BNN"


def compare_outputs(got: list[np.ndarray], want: list[np.ndarray]) -> tuple[int, float]:
    """(output elements that differ, max |difference|) of the board's outputs against the reference's."""
    diffs = [np.abs(g.astype(np.float64) - w.reshape(g.shape).astype(np.float64)) for g, w in zip(got, want)]
    return int(sum((d > 0).sum() for d in diffs)), float(max(d.max() for d in diffs))


def validate(model, board: str = DEFAULT_BOARD, inputs: np.ndarray | None = None, samples: int | None = None,
             seed: int = 0, workdir=None, store=None, method=None, port=None, progress: bool = True,
             project=None, flash_options: dict | None = None, data: str | None = None, audio: bool = False):
    """Generate, build and flash ``model`` (or the generated ``project`` folder as it is); run
    ``inputs`` on the board and on TFLM; compare. ``flash_options`` go to the flash backend
    (e.g. ``via_bootloader=True`` for simavr). ``samples``: random inputs when ``inputs`` is None
    (default 10). An RNN (.rnn.keras) runs the bags of ``data``'s test split instead
    (``mcuforge.rnn.validation.validate_rnn``; ``samples`` then takes the first N, default all);
    with ``audio`` (a keyword folder) the board gets each clip's audio and computes the frames."""
    from tqdm import tqdm

    from .model.loader import load
    from .target import open_target

    loaded = load(model)  # read (and folded) once: the generator gets the same object
    if loaded.kind == "rnn":
        from .rnn.validation import validate_rnn

        if data is None or inputs is not None:
            raise UsageError("an RNN is validated on bags of sequences: give --data DATA (aeon:NAME, a .npz or a "
                             "keyword folder), not --inputs")
        return validate_rnn(loaded, board, data, samples=samples, workdir=workdir, store=store, method=method,
                            port=port, progress=progress, project=project, flash_options=flash_options,
                            audio=audio)
    if audio:
        raise UsageError("--audio is for keyword RNN models (.rnn.keras) with --data KWS_DIR; a BNN keyword "
                         "model takes audio already")
    if data is not None:
        raise UsageError("--data is for RNN models (.rnn.keras); give other models --inputs X.npy")
    graph = loaded.graph
    x = make_inputs(graph, 10 if samples is None else samples, seed) if inputs is None else inputs
    if len(x) == 0:
        raise UsageError("no inputs to validate (samples must be >= 1)")
    if project is not None:
        from .project import load_project

        project = load_project(project, loaded)
        board = project.board.name
    reference, reference_arena, reference_name = host_reference(loaded)
    with open_target(loaded, board, workdir=workdir, method=method, port=port, project=project,
                     flash_options=flash_options) as target:
        # store.run marks the run failed or interrupted if the loop dies; every sample is kept.
        recording = start_recording(store, target, board)
        bar = tqdm(total=len(x), desc="validate", unit="sample", disable=not progress, file=sys.stderr)
        with recording as run, contextlib.closing(bar):
            outs, cycles, mismatches, bad_elems, max_diff = [], [], 0, 0, 0.0
            for i, xi in enumerate(x):
                got, cyc = target.run([xi[None]])
                n_bad, d_max = compare_outputs(got, reference.run([xi[None]]))
                mismatches += n_bad > 0
                bad_elems += n_bad
                max_diff = max(max_diff, d_max)
                outs.append(got[0][0] if got[0].shape[0] == 1 else got[0])
                cycles.append(int(cyc))
                if run is not None:
                    run.samples([dict(index=i, mismatches=n_bad, max_abs_diff=d_max, cycles=int(cyc))])
                bar.update(1)
                bar.set_postfix(mismatches=mismatches)
            size = target.build
            result = Validation(
                board=board, samples=len(x), mismatches=mismatches, mismatched_elements=bad_elems,
                max_abs_diff=max_diff, cycles=cycles, cycles_kind=target.cycles_kind, macs=target.project.macs,
                arena_bytes=target.project.plan.arena_bytes, reference_arena_bytes=reference_arena,
                flash_bytes=size.flash_bytes, ram_bytes=size.ram_bytes, model_hash=target.project.model_hash,
                firmware_hash=target.project.firmware_hash, outputs=outs, run_id=run.id if run else None,
                reference=reference_name,
                clock_hz=target.hello.clock_hz, runtime_ram_bytes=size.sizes.runtime_ram_bytes,
                stack_bytes=size.stack,
            )
            finish_recording(store, run, result)
    return result
