"""The federated protocol on the host, so many random draws can be swept without QEMU.

Every step is the one a federated session takes, with the board replaced by its numpy twin:
the same shares (``shares.split_non_iid`` on the clips ``learning.keywords.load_learn_data``
picks for the seed), each board's round as ``board.train_round`` does it (load the global head,
configure the rule, train the share in order, read the head back) on ``learning.rules.Head`` (the
firmware's head bit for bit), the server's aggregation (``aggregate.aggregate``), and the global
head evaluated as the boards do (``board.accuracies``). The embeddings are the host's
(``learning.embed.host_embeddings``: the numpy twins of the front end and the folded network),
so the numbers are the host twin's, no board timings or counts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..learning.checkpoint import HeadState
from ..learning.rules import Head
from .aggregate import aggregate, check_mode
from .board import accuracies
from .shares import Share, pooled, split_non_iid


@dataclass(frozen=True)
class BoardHead:
    """What the firmware's head is at boot: pretrained W, b, room for ``max_classes``, its defaults."""

    w_init: np.ndarray
    b_init: np.ndarray
    max_classes: int
    defaults: tuple = ("tinyol", 0.01, 8)  # rule, lr, batch

    @classmethod
    def of_model(cls, meta: dict) -> "BoardHead":
        from ..learning.config import model_head

        w, b, max_classes, d = model_head(meta)
        return cls(w, b, max_classes, (d.rule, d.lr, d.batch))

    def boot(self) -> Head:
        return Head(self.w_init, self.b_init, self.max_classes, *self.defaults)

    def initial_state(self, classes: int) -> HeadState:
        """The first global head (the ClientApp's ``initial_head``): reset, the new classes added."""
        head = self.boot()
        while head.state.classes < classes:
            head.add_class()
        return head.state.copy()

    def train_share(self, state: HeadState | None, share: Share, classes: int, rule: str, lr: float,
                    batch: int) -> HeadState:
        """One board's round (``board.train_round``) from the global head ``state``."""
        head = Head.from_state(state if state is not None else self.initial_state(classes), self.w_init, self.b_init)
        head.configure(rule, lr, batch)
        for x, y in zip(share.train_x, share.train_y):
            head.train(x, int(y))
        return head.state.copy()

    def evaluate(self, state: HeadState, share: Share) -> dict:
        """The held-out accuracies of ``state`` (``board.evaluate_state``)."""
        head = Head.from_state(state, self.w_init, self.b_init)
        pred = np.array([head.predict(x)[0] for x in share.eval_x], np.int64)
        return accuracies(pred, share.eval_y, share.pretrained)


def federated_rounds(head: BoardHead, shares: Sequence[Share], classes: int, rounds: int, rule: str, lr: float,
                     batch: int, aggregation: str, evaluate: bool = True) -> list[dict]:
    """The federated session: per round ``{"round", "state" (HeadState), "global" (accuracies)}``."""
    check_mode(aggregation)
    glob, out = head.initial_state(classes), []
    # aggregated in share order: the server's order (aggregate.share_order) for federate's board0..N-1
    for rnd in range(1, rounds + 1):
        states = [head.train_share(glob, s, classes, rule, lr, batch) for s in shares]
        glob = aggregate(glob, states, [s.class_counts(head.max_classes) for s in shares], aggregation)
        out.append({"round": rnd, "state": glob,
                    "global": head.evaluate(glob, shares[0]) if evaluate or rnd == rounds else {}})
    return out


def all_data_rounds(head: BoardHead, shares: Sequence[Share], classes: int, rounds: int, rule: str, lr: float,
                    batch: int, evaluate: bool = True) -> list[dict]:
    """The baseline of one board that saw all the data (``federate``'s), its head carried over rounds."""
    everything, state, out = pooled(shares), None, []
    for rnd in range(1, rounds + 1):
        state = head.train_share(state, everything, classes, rule, lr, batch)
        out.append({"round": rnd, "state": state,
                    "global": head.evaluate(state, everything) if evaluate or rnd == rounds else {}})
    return out


class EmbeddingCache:
    """Host embeddings of clips, each distinct clip computed once over all draws."""

    def __init__(self, model):
        from ..model.keras_bnn import load_bnn_keras

        self.graph, self.meta = load_bnn_keras(model)
        self.known: dict[bytes, np.ndarray] = {}

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        from ..learning.embed import host_embeddings

        keys = [c.tobytes() for c in clips]
        todo = sorted({k: i for i, k in enumerate(keys) if k not in self.known}.values())
        if todo:
            for i, e in zip(todo, host_embeddings(self.graph, self.meta, clips[todo])):
                self.known[keys[i]] = e
        return np.stack([self.known[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)


def sweep(model, data_dir, draws: int = 10, boards: int = 8, rounds: int = 5, rule: str = "tinyol", new=("zero",),
          lr: float = 0.05, batch: int = 8, aggregations: Sequence[str] = ("perclass", "fedavg"),
          new_per_board: int = 2, train_new: int = 40, train_old: int = 8, eval_per_class: int = 20, seed: int = 0,
          progress=lambda msg: None) -> dict:
    """``draws`` federated sessions (seeds ``seed``..``seed + draws - 1``: each its own clips and
    shares, as ``federate(seed=...)`` picks them) per aggregation, and the all-data board on the
    same shares. Returns ``{"labels", "new_classes", "pretrained", "draws": [{"seed", name: final
    accuracies}], "mean": {name: mean accuracies}}`` with names the aggregations and ``all-data``."""
    from pathlib import Path

    from ..learning.keywords import bnn_metadata, load_learn_data
    from ..learning.rules import rule_code

    rule_code(rule)
    for a in aggregations:
        check_mode(a)
    if draws < 1 or rounds < 1:
        raise ValueError(f"a sweep needs at least one draw and one round (got {draws} draws, {rounds} rounds)")
    model = Path(model)
    meta = bnn_metadata(model)
    new = [w.strip() for w in (new.split(",") if isinstance(new, str) else new) if w.strip()]
    if not new:
        raise ValueError("--new needs at least one keyword")
    embed = EmbeddingCache(model)
    head = BoardHead.of_model(embed.meta)
    results = []
    for d in range(seed, seed + draws):
        data = load_learn_data(data_dir, list(meta["labels"]), new, train_new, train_old, eval_per_class, d)
        classes = len(data.labels)
        train_x, eval_x = embed(data.train_clips), embed(data.eval_clips)
        parts = split_non_iid(data.train_labels, data.pretrained, classes, boards, new_per_board, d)
        shares = [Share(train_x[p], data.train_labels[p], eval_x, data.eval_labels, data.pretrained) for p in parts]
        row = {"seed": d}
        for a in aggregations:
            row[a] = federated_rounds(head, shares, classes, rounds, rule, lr, batch, a, evaluate=False)[-1]["global"]
        row["all-data"] = all_data_rounds(head, shares, classes, rounds, rule, lr, batch, evaluate=False)[-1]["global"]
        progress(f"draw {d}: " + ", ".join(f"{k} {100 * v['accuracy_all']:.1f}%" for k, v in row.items() if k != "seed"))
        results.append(row)
    names = [*aggregations, "all-data"]
    mean = {n: {k: float(np.mean([r[n][k] for r in results if k in r[n]])) for k in results[0][n]} for n in names}
    return dict(labels=data.labels, new_classes=new, pretrained=data.pretrained, boards=boards, rounds=rounds,
                rule=rule, draws=results, mean=mean)


__all__ = ["BoardHead", "EmbeddingCache", "all_data_rounds", "federated_rounds", "sweep"]
