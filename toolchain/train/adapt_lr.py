"""The learning rate of an adapt method, chosen on validation tasks (``mcuforge adapt --lr auto``).

One rate for every method need not suit them all (stepping every layer, ``full``, may want a
smaller one than stepping the classifier). The rate is chosen per method on **validation tasks**: support clips
from the train split, queries from the validation split (voices disjoint from the test split's,
and other random draws: :func:`validation_tasks`), every rate of a small grid run there with
:func:`mcuforge.train.adapt.adapt`, the one with the best mean validation accuracy kept (ties: the
smaller rate, the one nearer the pretrained weights). The test tasks are never an input, so their
queries cannot leak into the choice. By default the grid runs on the host's numpy twin (``HOST``:
bit-exact with the board, so the rate chosen there is the rate the board would choose).
"""
from __future__ import annotations

from .adapt import HOST, AdaptError, adapt, kws_tasks

LR_GRID = (0.001, 0.003, 0.01, 0.03, 0.05)
VALIDATION_SEED = 1_000_003  # added to the test tasks' seed: other draws of support clips too
AUTO = "auto"


def learning_rate(text: str):
    """A ``--lr`` value: a positive rate, or :data:`AUTO` (a ValueError is argparse's clean refusal)."""
    if text == AUTO:
        return AUTO
    lr = float(text)
    if not lr > 0:
        raise ValueError(f"learning rate {text}: give a positive rate or {AUTO}")
    return lr


def validation_tasks(model_path, data_dir, classes: list[str], shots: int, queries: int, tasks: int, seed: int = 0):
    """Tasks to choose settings on: queries from the validation split only, drawn with another seed
    than the test tasks' (:func:`mcuforge.train.adapt.kws_tasks` with ``query_split="validation"``)."""
    return kws_tasks(model_path, data_dir, classes, shots, queries, tasks, seed=seed + VALIDATION_SEED,
                     query_split="validation")


def choose_learning_rate(model, tasks, classes: list[str], method: str, grid=LR_GRID, board: str = HOST,
                         progress=None, **adapt_kw) -> dict:
    """Run ``method`` on the validation ``tasks`` at every rate of ``grid`` -> {"learning_rate":
    the best, "grid": [{"learning_rate", "accuracy", "accuracy_std"}], "tasks", "board"}.
    ``adapt_kw``: the rest of :func:`adapt`'s settings (epochs, budgets, head, seed), as the test
    run will use them."""
    if method == "none":
        raise AdaptError("method none trains nothing: it has no learning rate to choose")
    grid = sorted({float(lr) for lr in grid})
    if not grid or any(lr <= 0 for lr in grid):
        raise AdaptError(f"learning rate grid {grid}: give positive rates")
    rows = []
    for lr in grid:
        if progress:
            progress(f"learning rate {lr:g}: {method} on {len(tasks)} validation task(s)")
        r = adapt(model, tasks, classes, board=board, method=method, learning_rate=lr, progress=progress, **adapt_kw)
        rows.append(dict(learning_rate=lr, accuracy=r["accuracy"], accuracy_std=r["accuracy_std"]))
    best = max(rows, key=lambda row: (row["accuracy"], -row["learning_rate"]))
    return dict(learning_rate=best["learning_rate"], grid=rows, tasks=len(tasks), board=board)


def adapt_at_chosen_rate(model, tasks, validation, classes: list[str], method: str, grid=LR_GRID,
                         board: str = "netduinoplus2", progress=None, store=None, workdir=None, **adapt_kw) -> dict:
    """``adapt`` of the test ``tasks`` on ``board`` at the rate :func:`choose_learning_rate` chose on
    the ``validation`` tasks (on the host twin); the result carries that choice in
    ``learning_rate_selection``. ``none`` trains nothing: it runs as is, without a choice."""
    if method == "none":
        return adapt(model, tasks, classes, board=board, method=method, progress=progress, store=store,
                     workdir=workdir, **adapt_kw)
    sel = choose_learning_rate(model, validation, classes, method, grid, progress=progress, **adapt_kw)
    r = adapt(model, tasks, classes, board=board, method=method, learning_rate=sel["learning_rate"],
              progress=progress, store=store, workdir=workdir, **adapt_kw)
    r["learning_rate_selection"] = sel
    return r
