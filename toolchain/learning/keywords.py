"""Keyword continual learning on the board, as one call: ``learn(model, data_dir, board, rule, new)``.

Generates and flashes firmware for a BNN keyword spotter (a .keras from 'mcuforge train bnn-kws':
the frozen binary backbone, the audio front end and a float head trained on the board), streams
labelled 1 s clips of the old and new classes over the serial link, lets the board learn with the
chosen rule and evaluates the held-out split on the board; every step goes to the results database
and an interrupted session resumes. ``mcuforge learn`` prints what it returns. With
``train_backbone`` the board also trains a budgeted slice of the BNN's last conv below the head
(``mcuforge.learning.last_conv``; weights only, LwF's teacher the frozen network for the lwf rules).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..boards import DEFAULT_BOARD
from ..errors import UsageError


@dataclass
class LearnData:
    labels: list[str]  # head class order: pretrained labels, then new keywords
    pretrained: int
    train_clips: np.ndarray  # int16 (n, samples)
    train_labels: np.ndarray
    eval_clips: np.ndarray
    eval_labels: np.ndarray

    def first_new(self, n_new: int) -> "LearnData":
        """The same clips restricted to the pretrained classes and the first ``n_new`` new ones."""
        keep = self.pretrained + n_new
        tr, te = self.train_labels < keep, self.eval_labels < keep
        return LearnData(self.labels[:keep], self.pretrained, self.train_clips[tr], self.train_labels[tr],
                         self.eval_clips[te], self.eval_labels[te])


def _int16(waves: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(waves, np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def _pick(y: np.ndarray, per_class: int, classes, rng) -> np.ndarray:
    idx = []
    for c in classes:
        where = np.flatnonzero(y == c)
        if len(where) == 0:
            continue
        idx.extend(rng.choice(where, size=min(per_class, len(where)), replace=False).tolist())
    return np.array(sorted(idx), dtype=np.int64)


def load_learn_data(data_dir, base_labels: list[str], new: list[str], train_new: int, train_old: int,
                    eval_per_class: int, seed: int) -> LearnData:
    """Raw clips for a session: the stream from the train split, the held-out set from the test split."""
    from ..data.speech_commands import load_split, word_folders

    words = word_folders(data_dir)
    missing = [w for w in new if w not in words]
    if missing:
        raise ValueError(f"{data_dir}: no folder for new keyword(s) {missing}; folders: {sorted(words)}")
    clash = [w for w in new if w in base_labels]
    if clash:
        raise ValueError(f"{clash} are already classes of the model ({', '.join(base_labels)})")
    labels = list(base_labels) + list(new)
    rng = np.random.default_rng(seed)
    Xtr, ytr, _ = load_split(data_dir, labels, "train", features=None, seed=seed)
    Xte, yte, _ = load_split(data_dir, labels, "test", features=None, seed=seed)
    n_old = len(base_labels)
    tr = np.concatenate([_pick(ytr, train_old, range(n_old), rng), _pick(ytr, train_new, range(n_old, len(labels)), rng)])
    rng.shuffle(tr)  # a random order mixing old and new classes
    te = _pick(yte, eval_per_class, range(len(labels)), rng)
    return LearnData(labels, n_old, _int16(Xtr[tr]), ytr[tr].astype(np.int64), _int16(Xte[te]),
                     yte[te].astype(np.int64))


def bnn_metadata(model: Path) -> dict:
    """The metadata beside a BNN from 'mcuforge train bnn-kws' (labels, features); other models are
    refused by name."""
    if model.suffix != ".keras":
        raise UsageError(f"{model}: not a BNN .keras; learning on the board (learn, federate) takes one made by "
                         "'mcuforge train bnn-kws' (with its .json beside it)")
    from ..train.bnn import read_bnn_metadata

    return read_bnn_metadata(model)


def prepare_firmware(model, board: str, workdir) -> object:
    """Generate and build the learning firmware once (sessions flash the same ELF)."""
    from ..build.make import build
    from ..project import generate

    project = generate(model, board, workdir)
    build(project.path)
    return project


BACKBONE_BUDGET = 32768  # bytes for the trained slice: 41 of the demo BNN's 128 channels
BACKBONE_LR = 0.02       # the slice's weights (bench.last_conv's setting)


def backbone_learner(model, rule: str, lr: float, batch: int, budget_ram: int = BACKBONE_BUDGET,
                     lr_backbone: float = BACKBONE_LR):
    """The numpy twin of a session that learns below the head: the head with ``rule`` plus the
    slice of the last conv ``budget_ram`` holds (weights only: in the bench the BN offsets added
    nothing), protected by LwF's frozen-network teacher for the lwf rules. Its graph and meta are
    the model's, so ``board_model(learner, Model(...))`` generates the firmware."""
    from ..model.keras_bnn import load_bnn_keras
    from .config import model_head
    from .last_conv import LastConvLearner

    if not (isinstance(lr_backbone, (int, float)) and math.isfinite(lr_backbone) and lr_backbone > 0):
        raise UsageError(f"the backbone's learning rate (--lr-backbone) must be a finite number > 0, got {lr_backbone!r}")
    graph, meta = load_bnn_keras(Path(model))
    protect = "lwf" if rule in ("lwf", "lwf-batch") else "none"
    return LastConvLearner(graph, meta, model_head(meta)[2], rule, lr, lr_w=lr_backbone, lr_b=0.0,
                           budget_ram=budget_ram, protect=protect, batch=batch), graph, meta


def backbone_firmware(model, board: str, workdir, rule: str, lr: float, batch: int,
                      budget_ram: int = BACKBONE_BUDGET, lr_backbone: float = BACKBONE_LR):
    """Generate and build the learning firmware with the ``last_conv`` extension for the slice of
    :func:`backbone_learner` (same arguments)."""
    from ..model.loader import Model
    from .last_conv import board_model

    learner, graph, meta = backbone_learner(model, rule, lr, batch, budget_ram, lr_backbone)
    return prepare_firmware(board_model(learner, Model(graph, meta, path=Path(model))), board, workdir)


def learn(model, data_dir, board: str = DEFAULT_BOARD, rule: str = "tinyol", new=("zero",),
          lr: float = 0.05, batch: int = 8, train_new: int = 40, train_old: int = 8, eval_per_class: int = 30,
          eval_every: int = 40, seed: int = 0, workdir=None, store=None, project=None, data: LearnData | None = None,
          resume: int | None = None, embeddings: np.ndarray | None = None,
          train_embeddings: np.ndarray | None = None, capture: dict | None = None, progress: bool = True,
          method: str | None = None, port: str | None = None, train_backbone: bool = False,
          budget_ram: int = BACKBONE_BUDGET, lr_backbone: float = BACKBONE_LR) -> dict:
    """One on-device learning session; returns its summary (accuracy_old/new/all, update_cycles, head_bytes...).

    The stream is raw audio (the board runs front end + backbone per clip) unless ``train_embeddings``
    replays embeddings this firmware computed earlier; ``capture`` (a dict) receives the training
    embeddings the board computed (``capture["train"]``) and the held-out ones (``capture["eval"]``).
    ``embeddings`` are held-out embeddings from an earlier session of the same firmware.
    ``method``/``port`` choose how the board is reached (``flash.open_session``): with ``port`` and
    no ``method`` the board already runs this firmware there and is attached, not flashed, also
    when the session reconnects after losing it.
    ``train_backbone``: the board also trains the slice of the last conv ``budget_ram`` holds
    (:func:`backbone_learner`); ``capture`` then receives the packed features below it (uint32)
    instead of embeddings, and stale embeddings cannot be replayed."""
    import io

    from tqdm import tqdm

    from ..frontend.client import send_clip
    from .session import (EMBEDDINGS_ARTIFACT, FEATURES_ARTIFACT, EvalSet, LearnPlan,
                          board_opener, clip_source, embedding_source, run_learning_session)

    model = Path(model)
    meta = bnn_metadata(model)
    base_labels = list(meta["labels"])
    new = [w.strip() for w in (new.split(",") if isinstance(new, str) else new) if w.strip()]
    if not new:
        raise ValueError("--new needs at least one keyword")
    if train_backbone and (embeddings is not None or train_embeddings is not None):
        raise UsageError("a session that trains below the head cannot replay embeddings: they change as the "
                         "last conv learns")
    if data is None:
        data = load_learn_data(data_dir, base_labels, new, train_new, train_old, eval_per_class, seed)
    if project is None:
        workdir = workdir or Path("build") / f"learn-{model.stem}-{board}{'-backbone' if train_backbone else ''}"
        project = (backbone_firmware(model, board, workdir, rule, lr, batch, budget_ram, lr_backbone)
                   if train_backbone else prepare_firmware(model, board, workdir))
    if store is None:
        from ..results.store import ResultsStore

        store = ResultsStore()
    open_board = board_opener(project.path, board, method=method, expected_hash=project.firmware_hash,
                              **({"port": port} if port else {}))
    n_train, n_eval = len(data.train_labels), len(data.eval_labels)
    stream = [(i, int(y)) for i, y in enumerate(data.train_labels)]
    plan = LearnPlan(rule=rule, lr=lr, batch=batch, eval_every=eval_every, checkpoint_every=max(1, eval_every // 2),
                     train_backbone=train_backbone)
    identity = dict(model_name=project.manifest["model_name"], model_hash=project.model_hash, board=board,
                    firmware_hash=project.firmware_hash,
                    cycles_kind="emulated-instructions" if project.board.default_flash_method == "qemu" else "hardware")
    run_id = resume
    if run_id is None and embeddings is not None:
        # Held-out embeddings this firmware already computed on the board (same hash): reuse them.
        run_id = store.start_run("learn", summary=dict(rule=rule, lr=lr, batch=batch, steps=n_train,
                                                       new_classes=new), **identity)
        buf = io.BytesIO()
        np.save(buf, embeddings)
        store.add_artifact(run_id, EMBEDDINGS_ARTIFACT, data=buf.getvalue())
    bar = tqdm(total=n_train, desc=f"learn {rule}", unit="clip", disable=not progress, file=sys.stderr)

    def on_progress(msg: str) -> None:
        if msg.startswith("step "):
            bar.set_postfix_str(msg.split(": ", 1)[-1][:60])
        else:
            bar.write(msg)

    if train_embeddings is not None:
        compute = embedding_source(train_embeddings)
    else:
        stream_clip = clip_source(data.train_clips, send_clip)
        out = np.uint32 if train_backbone else np.float32  # model output 0: features below the slice, or embedding
        captured = np.zeros((n_train, int(project.manifest["outputs"][0]["bytes"]) // 4), out)

        def compute(link, i):
            stream_clip(link, i)
            captured[i] = np.frombuffer(link.read_output(0), dtype=out)

    def train_source_with_bar(link, i):
        compute(link, i)
        bar.n = max(bar.n, min(i + 1, n_train))
        bar.refresh()

    try:
        result = run_learning_session(
            open_board, store, stream=stream, train_source=train_source_with_bar,
            eval_set=EvalSet(list(range(n_eval)), data.eval_labels.tolist()),
            eval_source=clip_source(data.eval_clips, send_clip), plan=plan, run_id=run_id, identity=identity,
            progress=on_progress)
    finally:
        bar.close()
    if capture is not None:
        if train_embeddings is None:
            capture["train"] = captured
        capture["eval"] = eval_embeddings_of(store, result.run_id, FEATURES_ARTIFACT if train_backbone else None)
    samples = store.samples(result.run_id)
    cycles = [s.cycles for s in samples if s.cycles is not None]
    final = result.final
    summary = dict(
        run_id=result.run_id, rule=rule, lr=lr, batch=batch, board=board, new_classes=new, labels=data.labels,
        train_clips=n_train, eval_clips=n_eval, accuracy_old=final.get("accuracy_old"),
        accuracy_new=final.get("accuracy_new"), accuracy_all=final.get("accuracy_all"),
        update_cycles=float(np.median(cycles)) if cycles else None, cycles_kind=identity["cycles_kind"],
        head_bytes=final.get("head_bytes"), recoveries=result.recoveries,
        stream="replayed board embeddings" if train_embeddings is not None else "audio",
        train_backbone=train_backbone, backbone=result.backbone,
        curve=[{k: v for k, v in e.items()} for e in result.evaluations],
    )
    store.finish_run(result.run_id, "ok", summary={k: v for k, v in summary.items() if k != "curve"})
    return summary


def eval_embeddings_of(store, run_id: int, artifact: str | None = None) -> np.ndarray | None:
    """The held-out embeddings a session stored (``artifact``: another array, e.g. the features
    of a session that trained below the head)."""
    from .session import EMBEDDINGS_ARTIFACT

    import io

    stored = store.artifacts(run_id, artifact or EMBEDDINGS_ARTIFACT, with_data=True)
    return np.load(io.BytesIO(stored[-1].data)) if stored else None
