"""The learning session behind ``mcuforge learn``: stream labelled samples to a board, let
its head learn them, evaluate at intervals, store every measurement, survive resets.

    open_board = board_opener("build/", "netduinoplus2")     # or lambda: open_target(...)
    result = run_learning_session(
        open_board, store, stream=[(sample, label), ...],      # random order, old + new classes
        train_source=feature_source(train_features),           # board computes embedding i
        eval_set=EvalSet(indices, labels), eval_source=feature_source(test_features),
        plan=LearnPlan(rule="tinyol", lr=0.01, batch=8, eval_every=50, checkpoint_every=25))

What lands in the results store (one run of kind ``learn``, every write committed at once):

- ``samples`` row per training step (index = step, 1-based): label, the board's prediction
  before the update, update cycles; extra: sample index, classes, label_probability, batch_end.
- metrics with ``step=`` and a ``rule=`` tag: ``update_cycles`` per step; at each evaluation
  ``accuracy_old`` / ``accuracy_new`` / ``accuracy_all`` (held-out set, classes below the
  pretrained count are old), ``head_bytes`` and ``classes``; ``recovery`` when the board was
  lost and the session resumed from a checkpoint.
- artifacts ``head-state`` (the board's checkpoint blob, every ``checkpoint_every`` steps and
  at every evaluation) and ``eval-embeddings`` (the held-out embeddings the board computed).

Learning below the head (``plan.train_backbone``; firmware with the ``last_conv`` extension,
``mcuforge.learning.last_conv.board_model``): TRAIN also steps a slice of the BNN's last conv, so
every checkpoint stores that slice too (``last-conv-state``, written before the ``head-state`` of
the same step, restored after it), and embeddings go stale as the slice moves: the board computes
the held-out *features* (the last conv's packed input) once (``eval-features``) and each
evaluation replays them (SET_FEATURES) and lets the board predict through the current slice.

Resuming: any link failure, board fault or reset (the board's sample counter no longer
matches) closes the board, opens it again, writes the last checkpoint back and continues
from the checkpoint's step. Steps after the checkpoint are trained again; their ``samples``
rows are replaced, and per-step metrics are only written for steps a checkpoint covers,
so the store ends with exactly one measurement per step and per evaluation.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..flash import FlashError
from ..link import LinkError, ReplyLost
from .checkpoint import CheckpointError, HeadState
from .client import LastConvClient, LearningClient
from .rules import rule_code

STATE_ARTIFACT = "head-state"
EMBEDDINGS_ARTIFACT = "eval-embeddings"
SLICE_ARTIFACT = "last-conv-state"
FEATURES_ARTIFACT = "eval-features"

# A sample source makes the board compute the embedding of sample i: afterwards the
# model's output 0 holds it (e.g. WRITE_INPUT the features then INVOKE).
SampleSource = Callable[[Any, int], None]


class LearningSessionError(RuntimeError):
    """The session cannot go on (bad plan or stream, or the board keeps failing)."""


class BoardLost(LearningSessionError):
    """The board kept failing: more recoveries in a row than the plan allows (a link failure)."""


class StateLost(LinkError):
    """The board's learning state is not the one the host drove (it was reset)."""


# ---- sample sources ------------------------------------------------------------------------

def _fill_and_invoke(link, i: int, fill: Callable[[], None]) -> None:
    """fill() the model input, INVOKE. An INVOKE whose reply was lost may have run and
    overwritten its input, so the input is filled again before the next try."""
    for attempt in range(link.retries + 1):
        fill()
        try:
            status, _ = link.invoke()
            break
        except ReplyLost:
            if attempt == link.retries:
                raise
    if status != 0:
        raise LinkError(f"{link.url}: model invoke failed with status {status} on sample {i}")


def feature_source(features: np.ndarray, input_index: int = 0) -> SampleSource:
    """Samples given as model inputs (``features[i]`` in the input's dtype and size):
    WRITE_INPUT then INVOKE."""
    features = np.asarray(features)

    def source(link, i: int) -> None:
        _fill_and_invoke(link, i, lambda: link.write_input(input_index, np.ascontiguousarray(features[i])))

    return source


def clip_source(clips: Sequence[Any], stream_clip: Callable[[Any, Any], None]) -> SampleSource:
    """Samples given as raw audio: ``stream_clip(link, clip)`` (the frontend extension's
    client) makes the board fill the model input from the clip; then INVOKE."""

    def source(link, i: int) -> None:
        _fill_and_invoke(link, i, lambda: stream_clip(link, clips[i]))

    return source


def embedding_source(embeddings: np.ndarray) -> SampleSource:
    """Samples given as embeddings the same firmware computed earlier on the board (e.g. captured
    in a first session that streamed the audio): SET_EMBEDDING replays them, no backbone run."""
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)

    def source(link, i: int) -> None:
        LearningClient(link).set_embedding(emb[i])

    return source


def features_replay_source(features: np.ndarray) -> SampleSource:
    """Samples given as the last conv's packed input the same firmware computed earlier (its
    ``last_conv`` extension; model output 0 after INVOKE): SET_FEATURES replays them, so the
    backbone below the trained slice runs once per clip, not once per session."""
    feats = np.ascontiguousarray(features, dtype=np.uint32)

    def source(link, i: int) -> None:
        LastConvClient(link).set_features(feats[i])

    return source


# ---- opening a board -------------------------------------------------------------------------

@dataclass
class BoardConnection:
    """A flashed board and its link; ``close()`` releases both."""

    link: Any
    session: Any = None

    def close(self) -> None:
        try:
            self.link.close()
        finally:
            if self.session is not None:
                self.session.close()


def board_opener(firmware, board: str, method: str | None = None,
                 expected_hash: str | None = None, link_options: dict | None = None,
                 **session_options) -> Callable[[], BoardConnection]:
    """A factory for the session: each call flashes ``firmware`` (ELF or project dir) on
    ``board`` (a fresh QEMU for emulated boards) and returns the connected board."""
    from ..flash import open_session

    def open_() -> BoardConnection:
        session = open_session(firmware, board, method=method, **session_options)
        try:
            link = session.link(expected_hash=expected_hash, **(link_options or {}))
        except BaseException:
            session.close()
            raise
        return BoardConnection(link, session)

    return open_


# ---- the session -----------------------------------------------------------------------------

@dataclass(frozen=True)
class LearnPlan:
    rule: str
    lr: float
    batch: int = 8
    eval_every: int = 50
    checkpoint_every: int = 25
    max_recoveries: int = 5  # board losses in a row without a new checkpoint before giving up
    train_backbone: bool = False  # the firmware's last_conv extension trains a slice below the head

    def check(self) -> None:
        rule_code(self.rule)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise LearningSessionError(f"learning rate must be a finite number > 0, got {self.lr!r}")
        for name in ("batch", "eval_every", "checkpoint_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise LearningSessionError(f"{name} must be an integer >= 1, got {v!r}")
        if self.batch > 0xFFFF:
            raise LearningSessionError(f"batch must be <= 65535, got {self.batch}")
        if self.max_recoveries < 0:
            raise LearningSessionError(f"max_recoveries must be >= 0, got {self.max_recoveries}")


@dataclass(frozen=True)
class EvalSet:
    """Held-out samples: indices for the eval source and their head class labels."""

    indices: Sequence[int]
    labels: Sequence[int]

    def __post_init__(self) -> None:
        if len(self.indices) != len(self.labels) or len(self.indices) == 0:
            raise LearningSessionError(f"eval set needs as many labels as samples (>= 1); got "
                                       f"{len(self.indices)} samples, {len(self.labels)} labels")


@dataclass
class SessionResult:
    run_id: int
    steps: int
    recoveries: int
    evaluations: list[dict] = field(default_factory=list)  # {"step", "accuracy_*", ...} in order
    backbone: dict | None = None  # train_backbone: the slice as the board reports it (LAST_CONV_INFO)

    @property
    def final(self) -> dict:
        return self.evaluations[-1] if self.evaluations else {}


def run_learning_session(open_board: Callable[[], Any], store, *, stream: Sequence[tuple[int, int]],
                         train_source: SampleSource, eval_set: EvalSet,
                         plan: LearnPlan, eval_source: SampleSource | None = None,
                         run_id: int | None = None, identity: dict | None = None,
                         progress: Callable[[str], None] | None = None) -> SessionResult:
    """Run (or, with ``run_id`` of an earlier learn run, resume) a learning session; see the
    module docstring. ``open_board()`` returns an object with ``.link`` and ``.close()``
    (``board_opener``, or ``mcuforge.target.open_target``); ``identity`` adds run fields
    such as model_hash."""
    return LearningSession(open_board, store, stream=stream, train_source=train_source,
                           eval_set=eval_set, plan=plan, eval_source=eval_source, run_id=run_id,
                           identity=identity, progress=progress).run()


class LearningSession:
    def __init__(self, open_board, store, *, stream, train_source, eval_set, plan,
                 eval_source=None, run_id=None, identity=None, progress=None):
        plan.check()
        if len(stream) == 0:
            raise LearningSessionError("the training stream is empty")
        self.stream = [(int(i), int(y)) for i, y in stream]
        if min(y for _, y in self.stream) < 0 or min(int(y) for y in eval_set.labels) < 0:
            raise LearningSessionError("labels must be class indices >= 0")
        self.open_board = open_board
        self.store = store
        self.train_source = train_source
        self.eval_source = eval_source or train_source
        self.eval_set = eval_set
        self.eval_labels = np.asarray(eval_set.labels, dtype=np.int64)
        self.plan = plan
        self.identity = dict(identity or {})
        self.progress = progress or (lambda msg: None)
        self.run_id = run_id
        self.board = None
        self.learn: LearningClient | None = None
        self.below: LastConvClient | None = None  # plan.train_backbone: the slice's messages
        self.embeddings: np.ndarray | None = None
        self.pretrained = 0
        self.classes = 0
        self.unit = None
        self.firmware_hash = None
        self.recoveries = 0
        self.evaluations: list[dict] = []
        self.backbone: dict | None = None
        self._ckpt: tuple[int, bytes, bytes | None] | None = None  # the last checkpoint stored: step, head, slice

    @property
    def steps(self) -> int:
        return len(self.stream)

    # ---- main loop ---------------------------------------------------------------------------
    def run(self) -> SessionResult:
        self._open_run()
        try:
            self._run_with_recovery()
        except Exception as e:
            self._finish("failed", e)
            raise
        except BaseException as e:  # Ctrl-C, SystemExit
            self._finish("interrupted", e)
            raise
        self._finish("ok", None)
        return SessionResult(self.run_id, self.steps, self.recoveries, self.evaluations, self.backbone)

    def _run_with_recovery(self) -> None:
        streak, last_ckpt = 0, self._latest_checkpoint_step()
        while True:
            try:
                self._connect()
                step = self._restore_or_start()
                self._catch_up(step)
                for s in range(step + 1, self.steps + 1):
                    self._train_step(s)
                    if self._is_eval_step(s) or s % self.plan.checkpoint_every == 0:
                        self._checkpoint(s)
                        self._flush_step_metrics(s)
                        if self._is_eval_step(s):
                            self._evaluate(s)
                self._disconnect()
                return
            except (LinkError, FlashError, CheckpointError, OSError) as e:
                self._disconnect()
                ckpt = self._latest_checkpoint_step()
                streak = 1 if ckpt != last_ckpt else streak + 1
                last_ckpt = ckpt
                if streak > self.plan.max_recoveries:
                    raise BoardLost(
                        f"board lost {streak} times without reaching a new checkpoint (last at "
                        f"step {ckpt}); last error: {e}") from e
                self.recoveries += 1
                self.progress(f"board lost ({e}); resuming from the checkpoint at step {ckpt}")
                self.store.add_metric(self.run_id, "recovery", self.recoveries, step=ckpt,
                                      rule=self.plan.rule, error=f"{type(e).__name__}: {e}"[:500])

    # ---- run bookkeeping -----------------------------------------------------------------------
    def _open_run(self) -> None:
        summary = {"rule": self.plan.rule, "lr": self.plan.lr, "batch": self.plan.batch,
                   "eval_every": self.plan.eval_every, "checkpoint_every": self.plan.checkpoint_every,
                   "steps": self.steps, "eval_samples": len(self.eval_labels),
                   "train_backbone": self.plan.train_backbone}
        if self.run_id is None:
            self.run_id = self.store.start_run("learn", summary=summary, **self.identity)
            return
        run = self.store.get_run(self.run_id)
        if run.kind != "learn":
            raise LearningSessionError(f"run {self.run_id} is a {run.kind!r} run, not a learn run")
        if run.summary.get("rule") not in (None, self.plan.rule):
            raise LearningSessionError(f"run {self.run_id} learnt with rule {run.summary['rule']!r}, "
                                       f"not {self.plan.rule!r}")
        if run.summary.get("steps") not in (None, self.steps):
            raise LearningSessionError(f"run {self.run_id} has a stream of {run.summary['steps']} steps, "
                                       f"this one has {self.steps}: resume it with the same stream")
        if bool(run.summary.get("train_backbone", False)) != self.plan.train_backbone:
            raise LearningSessionError(f"run {self.run_id} was {'' if run.summary.get('train_backbone') else 'not '}"
                                       f"learning below the head: resume it with the same train_backbone")
        self.firmware_hash = run.firmware_hash

    def _finish(self, status: str, exc: BaseException | None) -> None:
        self._disconnect()
        summary: dict[str, Any] = {"recoveries": self.recoveries}
        if self.evaluations:
            summary["final"] = self.evaluations[-1]
        if self.backbone is not None:
            summary["backbone"] = self.backbone
        # set either way: a resumed run must not keep the error of its failed first part
        summary["error"] = f"{type(exc).__name__}: {exc}" if exc is not None else None
        self.store.finish_run(self.run_id, status, summary)

    # ---- board ---------------------------------------------------------------------------------
    def _connect(self) -> None:
        self.progress("opening the board")
        self.board = self.open_board()
        link = self.board.link
        self.learn = LearningClient(link)
        hello = link.hello()
        if self.firmware_hash is None:
            scale = link.cycle_scale
            kind = "hardware" if not scale.emulated else (
                "emulated-instructions" if scale.unit == "emulated-instructions" else None)
            self.store.update_run(self.run_id, board=hello.board, firmware_hash=hello.firmware_hash,
                                  cycles_kind=kind,
                                  **({} if "model_name" in self.identity else {"model_name": hello.model_name}))
            self.firmware_hash = hello.firmware_hash
        elif hello.firmware_hash != self.firmware_hash:
            raise LearningSessionError(f"the board runs firmware {hello.firmware_hash!r}, the session "
                                       f"started on {self.firmware_hash!r}: its checkpoints do not apply")
        self.unit = link.cycle_scale.unit
        has_slice = LastConvClient.MESSAGE in hello.message_types
        if has_slice != self.plan.train_backbone:
            raise LearningSessionError(
                f"the board's firmware {'learns' if has_slice else 'does not learn'} below the head "
                f"(last_conv extension) but the session was planned with train_backbone={self.plan.train_backbone}")
        self.below = LastConvClient(link) if has_slice else None
        if self.below is not None:
            b = self.below.info()
            self.backbone = {"channels": b.channels, "out_channels": b.out_c, "in_channels": b.in_c,
                             "ram_bytes": b.ram_bytes, "state_bytes": b.state_bytes}
        info = self.learn.info()
        self.pretrained = info.pretrained
        top = max(max(y for _, y in self.stream), int(self.eval_labels.max()))
        if top >= info.max_classes:
            raise LearningSessionError(f"label {top} does not fit the board's head ({info.max_classes} "
                                       f"classes at most)")
        if info.dim * 4 > hello.max_payload:
            raise LearningSessionError(f"embeddings of {info.dim} floats do not fit one EVAL_EMBEDDING "
                                       f"request (max payload {hello.max_payload})")

    def _disconnect(self) -> None:
        board, self.board, self.learn, self.below = self.board, None, None, None
        if board is not None:
            try:
                board.close()
            except Exception:  # a dead board must not hide the error that killed it
                pass

    def _restore_or_start(self) -> int:
        art = self._latest_checkpoint()
        if art is None:
            self.progress(f"configuring {self.plan.rule} (lr {self.plan.lr}, batch {self.plan.batch})")
            self.learn.reset()
            self.learn.configure(self.plan.rule, self.plan.lr, self.plan.batch)
            self.classes = self.learn.info().classes
            self._checkpoint(0)
            return 0
        step, blob, slice_blob = art
        self.progress(f"restoring the checkpoint of step {step}")
        self.learn.write_state(blob)
        if self.below is not None:
            if slice_blob is None:
                raise LearningSessionError(f"the checkpoint of step {step} holds no last-conv slice")
            self.below.write_state(slice_blob)
        info = self.learn.info()
        if info.samples != step or info.rule != self.plan.rule:
            raise LearningSessionError(f"checkpoint of step {step} holds {info.samples} samples of rule "
                                       f"{info.rule!r}: not this session's")
        self.classes = info.classes
        return step

    # ---- steps ---------------------------------------------------------------------------------
    def _train_step(self, s: int) -> None:
        sample, label = self.stream[s - 1]
        while self.classes <= label:
            index = self.learn.add_class()
            if index != self.classes:  # a resent ADD_CLASS whose first reply was lost added two
                raise StateLost(f"{self.learn.link.url}: the board added class {index}, expected "
                                f"{self.classes}")
            self.classes = index + 1
        self.train_source(self.learn.link, sample)
        r = self.learn.train(label)
        if r.samples != s:
            raise StateLost(f"{self.learn.link.url}: the board counts {r.samples} samples at step {s}: "
                            f"its learning state was reset")
        cycles = self.learn.link.cycle_scale.convert(r.ticks)
        self.store.add_samples(self.run_id, [{
            "index": s, "label": label, "predicted": r.predicted, "cycles": cycles,
            "sample": sample, "classes": self.classes, "label_probability": r.p_label,
            "batch_end": r.batch_end}])

    def _checkpoint(self, s: int) -> None:
        # the slice first: a head-state of step s is the mark that the whole checkpoint is stored
        slice_blob = self.below.read_state_bytes() if self.below is not None else None
        blob = self.learn.read_state()
        state = HeadState.from_bytes(blob)
        if state.samples != s:
            raise StateLost(f"checkpoint at step {s} holds {state.samples} samples: the board was reset")
        if slice_blob is not None:
            self.store.add_artifact(self.run_id, SLICE_ARTIFACT, data=slice_blob, step=s)
        self.store.add_artifact(self.run_id, STATE_ARTIFACT, data=blob, step=s)
        self._ckpt = (s, blob, slice_blob)

    def _flush_step_metrics(self, upto: int) -> None:
        """update_cycles of every step <= upto not yet in the metrics (a checkpoint covers them)."""
        done = {m.step for m in self.store.metrics(self.run_id, "update_cycles")}
        for row in self.store.samples(self.run_id):
            if row.index <= upto and row.index not in done and row.cycles is not None:
                self.store.add_metric(self.run_id, "update_cycles", row.cycles, unit=self.unit,
                                      step=row.index, rule=self.plan.rule)

    def _is_eval_step(self, s: int) -> bool:
        return s == 0 or s % self.plan.eval_every == 0 or s == self.steps

    def _catch_up(self, step: int) -> None:
        """After a (re)start at ``step``: write what a failure cut short there."""
        self._flush_step_metrics(step)
        if self._is_eval_step(step):
            evaluated = {m.step for m in self.store.metrics(self.run_id, "accuracy_all")}
            if step not in evaluated:
                self._evaluate(step)

    # ---- evaluation ----------------------------------------------------------------------------
    def _eval_embeddings(self) -> np.ndarray:
        """What model output 0 holds for each held-out sample: the embeddings, or with
        train_backbone the features below the trained slice (dtype as the board gives them)."""
        if self.embeddings is not None:
            return self.embeddings
        artifact, dtype = ((FEATURES_ARTIFACT, np.uint32) if self.plan.train_backbone
                           else (EMBEDDINGS_ARTIFACT, np.float32))  # little-endian, as the board
        what = "features" if self.plan.train_backbone else "embeddings"
        stored = self.store.artifacts(self.run_id, artifact, with_data=True)
        if stored:
            self.embeddings = np.load(io.BytesIO(stored[-1].data))
            return self.embeddings
        self.progress(f"computing {len(self.eval_labels)} held-out {what} on the board")
        link = self.learn.link
        rows = []
        n = len(self.eval_set.indices)
        for k, i in enumerate(self.eval_set.indices, start=1):
            self.eval_source(link, int(i))
            rows.append(np.frombuffer(link.read_output(0), dtype=dtype).copy())
            if k % 10 == 0 or k == n:
                self.progress(f"held-out {what} on the board: {k}/{n}")
        emb = np.stack(rows)
        buf = io.BytesIO()
        np.save(buf, emb)
        self.store.add_artifact(self.run_id, artifact, data=buf.getvalue())
        self.embeddings = emb
        return emb

    def _evaluate(self, s: int) -> None:
        emb = self._eval_embeddings()
        if self.below is not None:  # through the current slice: replay each sample's features, PREDICT
            pred = np.array([self._predict_features(f) for f in emb], np.int64)
        else:
            pred = self.learn.eval_embeddings(emb)
        info = self.learn.info()
        if info.samples != s:  # a reset whose boot HELLO was lost: a pretrained head answered
            raise StateLost(f"{self.learn.link.url}: the board counts {info.samples} samples at the "
                            f"evaluation of step {s}: its learning state was reset")
        y = self.eval_labels
        correct = pred == y
        old = y < self.pretrained
        values: dict[str, Any] = {"accuracy_all": (float(correct.mean()), "fraction")}
        if old.any():
            values["accuracy_old"] = (float(correct[old].mean()), "fraction")
        if (~old).any():
            values["accuracy_new"] = (float(correct[~old].mean()), "fraction")
        values["head_bytes"] = (info.head_bytes, "bytes")
        values["classes"] = (info.classes, None)
        self.store.add_metrics(self.run_id, values, step=s, rule=self.plan.rule)
        row = {"step": s, **{k: v[0] for k, v in values.items()}}
        self.evaluations.append(row)
        self.progress(f"step {s}: accuracy {row['accuracy_all']:.3f} "
                      f"(old {row.get('accuracy_old', float('nan')):.3f}, "
                      f"new {row.get('accuracy_new', float('nan')):.3f})")

    def _predict_features(self, features: np.ndarray) -> int:
        self.below.set_features(features)
        return self.learn.predict().argmax

    # ---- checkpoints in the store -------------------------------------------------------------
    def _latest_checkpoint(self) -> tuple[int, bytes, bytes | None] | None:
        if self._ckpt is not None:
            return self._ckpt
        # resuming a run another process started: its newest checkpoint in the store
        arts = self.store.artifacts(self.run_id, STATE_ARTIFACT, with_data=True)
        if not arts:
            return None
        best = max(arts, key=lambda a: (a.step, a.id))
        slices = [a for a in self.store.artifacts(self.run_id, SLICE_ARTIFACT, with_data=True) if a.step == best.step]
        return best.step, best.data, (max(slices, key=lambda a: a.id).data if slices else None)

    def _latest_checkpoint_step(self) -> int | None:
        if self.run_id is None:
            return None
        arts = self.store.artifacts(self.run_id, STATE_ARTIFACT)
        return max(a.step for a in arts) if arts else None


__all__ = ["BoardConnection", "EvalSet", "FEATURES_ARTIFACT", "LearnPlan", "LearningSession", "SLICE_ARTIFACT",
           "LearningSessionError", "SampleSource", "SessionResult", "StateLost", "board_opener",
           "clip_source", "feature_source", "features_replay_source", "run_learning_session"]
