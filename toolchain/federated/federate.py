"""``federate(model, data_dir, boards=N, rounds=R, rule=..., new=[...])``: federated continual learning
of a BNN keyword spotter's head over N emulated boards, with its two baselines from the same run.

1. the learning firmware is built once; every clip (train and held-out) goes once through a board's
   front end and backbone (``learning.embed``: the fleet spreads them over a few QEMUs);
2. each board gets its own non-IID share (``shares.split_non_iid``: some of the new keywords, a
   different amount of each), written where its SuperNode reads it;
3. a SuperLink and N SuperNodes on loopback run R rounds (``serverapp``/``clientapp``);
4. baselines on the same shares and held-out set, on the boards: every board learning alone for R
   rounds (its own head carried over), and one board that saw all the data for R rounds.

Everything goes to one results-store run of kind ``federate``: metrics with ``step`` = round and tags
``series`` (federated / alone / all-data) and ``board``."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .aggregate import check_mode
from .board import BoardSpec, train_round
from .deploy import Deployment, DeploymentError
from .shares import Share, pooled, save_share, split_non_iid

ACCURACY = ("accuracy_old", "accuracy_new", "accuracy_all")


def _store_accuracies(store, run_id, values: dict, rnd: int, **tags) -> None:
    store.add_metrics(run_id, {k: (v, "fraction") for k, v in values.items() if k.startswith("accuracy")},
                      step=rnd, **tags)


def _baselines(spec: BoardSpec, shares: list[Share], rounds: int, classes: int, rule, lr, batch, store, run_id,
               progress) -> dict:
    """Each board alone and one board with all the data, ``rounds`` passes each over its data."""
    everything = pooled(shares)
    curves: dict = {"alone": {}, "all-data": []}
    for name, share in [("all-data", everything)] + [(f"board{i}", s) for i, s in enumerate(shares)]:
        state = None
        for rnd in range(1, rounds + 1):
            r = train_round(spec, share, state, classes, rule, lr, batch, progress=progress)
            state = r.state
            series = "all-data" if name == "all-data" else "alone"
            tags = {} if name == "all-data" else {"board": name}
            _store_accuracies(store, run_id, r.local, rnd, series=series, **tags)
            if name == "all-data":
                curves["all-data"].append({"round": rnd, **r.local})
            else:
                curves["alone"].setdefault(name, []).append({"round": rnd, **r.local})
        progress(f"baseline {name}: accuracy {r.local['accuracy_all']:.3f} after {rounds} rounds")
    return curves


def federate(model, data_dir, boards: int = 3, rounds: int = 3, rule: str = "tinyol", new=("zero",),
             lr: float = 0.05, batch: int = 8, aggregation: str = "perclass", new_per_board: int = 1,
             train_new: int = 40, train_old: int = 8, eval_per_class: int = 30, seed: int = 0,
             workdir=None, store=None, baselines: bool = True, embed_boards: int = 2,
             progress=lambda msg: None) -> dict:
    from ..boards import DEFAULT_BOARD
    from ..learning.embed import board_embeddings
    from ..learning.keywords import bnn_metadata, load_learn_data, prepare_firmware
    from ..learning.rules import rule_code

    rule_code(rule)
    check_mode(aggregation)
    model = Path(model)
    meta = bnn_metadata(model)
    new = [w.strip() for w in (new.split(",") if isinstance(new, str) else new) if w.strip()]
    if not new:
        raise ValueError("--new needs at least one keyword")
    workdir = Path(workdir or Path("build") / f"federate-{model.stem}")
    data = load_learn_data(data_dir, list(meta["labels"]), new, train_new, train_old, eval_per_class, seed)
    classes = len(data.labels)
    progress("building the learning firmware")
    project = prepare_firmware(model, DEFAULT_BOARD, workdir / "firmware")
    if store is None:
        from ..results.store import ResultsStore

        store = ResultsStore()
    clips = np.concatenate([data.train_clips, data.eval_clips])
    progress(f"{len(clips)} clips through the board's front end and backbone, once")
    emb = board_embeddings(model, project, clips, boards=embed_boards)
    train_x, eval_x = emb[:len(data.train_labels)], emb[len(data.train_labels):]
    parts = split_non_iid(data.train_labels, data.pretrained, classes, boards, new_per_board, seed)
    shares = [Share(train_x[p], data.train_labels[p], eval_x, data.eval_labels, data.pretrained) for p in parts]
    # absolute: the SuperNodes' ClientApps run in other working directories
    paths = [save_share(workdir.resolve() / "shares" / f"board{i}.npz", s) for i, s in enumerate(shares)]
    spec = BoardSpec(str(Path(project.path).resolve()), DEFAULT_BOARD, hash=project.firmware_hash)
    run_id = store.start_run("federate", model_name=project.manifest["model_name"], model_hash=project.model_hash,
                             board=DEFAULT_BOARD, firmware_hash=project.firmware_hash,
                             summary=dict(boards=boards, rounds=rounds, rule=rule, lr=lr, batch=batch,
                                          aggregation=aggregation, new_classes=new, labels=data.labels,
                                          shares=[s.class_counts(classes).tolist() for s in shares]))
    out = workdir / "rounds.jsonl"
    out.unlink(missing_ok=True)
    t0 = time.monotonic()
    try:
        with Deployment(workdir / "deploy") as d:
            d.start_superlink()
            for i, path in enumerate(paths):
                d.start_supernode(i, dict(firmware=spec.firmware, board=spec.board, hash=spec.hash, share=str(path)))
            progress(f"Flower SuperLink on 127.0.0.1:{d.port}, {boards} SuperNodes; {rounds} rounds")
            d.run(dict(rounds=rounds, rule=rule, lr=lr, batch=batch, classes=classes, aggregation=aggregation,
                       boards=boards, out=str(out.resolve())))
        if not out.is_file():
            raise DeploymentError(f"the Flower run ended without a round's results; see {d.workdir / 'flwr-run.log'}")
        records = [json.loads(line) for line in out.read_text().splitlines()]
        for rec in records:
            rnd = rec["round"]
            _store_accuracies(store, run_id, rec["global"], rnd, series="federated")
            for i, (node, b) in enumerate(sorted(rec["boards"].items(), key=lambda kv: kv[1]["share"])):
                name = Path(b["share"]).stem
                store.add_metrics(run_id, {k[len("local_"):]: (v, "fraction") for k, v in b.items()
                                           if k.startswith("local_accuracy")}, step=rnd, series="local", board=name)
                store.add_metric(run_id, "serial_bytes", b["serial_bytes"] + b.get("eval_serial_bytes", 0),
                                 unit="bytes", step=rnd, board=name)
            store.add_metric(run_id, "network_bytes", rec["network_bytes"], unit="bytes", step=rnd)
            store.add_metric(run_id, "round_wall_s", rec["wall_s"], unit="s", step=rnd)
            store.add_artifact(run_id, "head-state", data=bytes.fromhex(rec.pop("state")), step=rnd)
        curves = _baselines(spec, shares, rounds, classes, rule, lr, batch, store, run_id, progress) if baselines else {}
    except BaseException as e:
        store.finish_run(run_id, "failed" if isinstance(e, Exception) else "interrupted",
                         {"error": f"{type(e).__name__}: {e}"})
        raise
    summary = dict(run_id=run_id, boards=boards, rounds=rounds, rule=rule, aggregation=aggregation, labels=data.labels,
                   new_classes=new, shares=[s.class_counts(classes).tolist() for s in shares], federated=records,
                   baselines=curves, wall_s=time.monotonic() - t0)
    store.finish_run(run_id, "ok", {"final": records[-1]["global"] if records else {}})
    return summary


__all__ = ["federate"]
