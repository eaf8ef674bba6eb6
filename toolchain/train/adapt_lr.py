"""The learning rate of an adapt method, chosen on validation tasks (``mcuforge adapt --lr auto``).

One rate for every method need not suit them all (stepping every layer, ``full``, may want a
smaller one than stepping the classifier). The rate is chosen per method on **validation tasks**: support clips
from the train split, queries from the validation split (voices disjoint from the test split's,
and other random draws: :func:`validation_tasks`), every rate of a small grid run there with
:func:`mcuforge.train.adapt.adapt`, the one with the best mean validation accuracy kept (ties: the
smaller rate, the one nearer the pretrained weights). Where the best is the grid's smallest or
largest rate, better than its neighbour, the optimum may lie beyond it, so the grid goes on past that edge by the ratio of its
two outermost rates while each new rate does strictly better (at most :data:`EDGE_STEPS` more). The test tasks are never an input, so their
queries cannot leak into the choice. By default the grid runs on the host's numpy twin (``HOST``:
bit-exact with the board, so the rate chosen there is the rate the board would choose).
"""
from __future__ import annotations

from .adapt import HOST, AdaptError, adapt, kws_tasks

LR_GRID = (0.001, 0.003, 0.01, 0.03, 0.05)
VALIDATION_SEED = 1_000_003  # added to the test tasks' seed: other draws of support clips too
AUTO = "auto"
EDGE_STEPS = 3  # rates tried past a grid edge that is the best so far


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
    """Run ``method`` on the validation ``tasks`` at every rate of ``grid``, and past an edge of it
    that wins -> {"learning_rate": the best, "grid": [{"learning_rate", "accuracy", "accuracy_std"}]
    (every rate run, ascending), "extended": the rates past the edges, "tasks", "board"}.
    ``adapt_kw``: the rest of :func:`adapt`'s settings (epochs, budgets, head, seed), as the test
    run will use them."""
    if method == "none":
        raise AdaptError("method none trains nothing: it has no learning rate to choose")
    grid = sorted({float(lr) for lr in grid})
    if not grid or any(lr <= 0 for lr in grid):
        raise AdaptError(f"learning rate grid {grid}: give positive rates")
    rows = {}

    def run(lr: float) -> dict:
        if progress:
            progress(f"learning rate {lr:g}: {method} on {len(tasks)} validation task(s)")
        r = adapt(model, tasks, classes, board=board, method=method, learning_rate=lr, progress=progress, **adapt_kw)
        rows[lr] = dict(learning_rate=lr, accuracy=r["accuracy"], accuracy_std=r["accuracy_std"])
        return rows[lr]

    for lr in grid:
        run(lr)
    chosen = max(rows.values(), key=lambda row: (row["accuracy"], -row["learning_rate"]))
    extended = []
    edge = {grid[0]: (0, 1), grid[-1]: (-1, -2)}.get(chosen["learning_rate"]) if len(grid) > 1 else None
    if edge and chosen["accuracy"] > rows[grid[edge[1]]]["accuracy"]:
        # An edge that beats its neighbour says the optimum may lie past it: step on outward while that
        # strictly helps.
        ratio = grid[edge[0]] / grid[edge[1]]
        for _ in range(EDGE_STEPS):
            lr = float(f"{chosen['learning_rate'] * ratio:.3g}")
            extended.append(lr)
            if run(lr)["accuracy"] <= chosen["accuracy"]:
                break
            chosen = rows[lr]
    return dict(learning_rate=chosen["learning_rate"], grid=[rows[lr] for lr in sorted(rows)], extended=extended,
                tasks=len(tasks), board=board)


def adapt_at_chosen_rate(model, tasks, validation, classes: list[str], method: str, grid=LR_GRID,
                         board: str = "netduinoplus2", progress=None, store=None, workdir=None, **adapt_kw) -> dict:
    """``adapt`` of the test ``tasks`` on ``board`` at the rate :func:`choose_learning_rate` chose on
    the ``validation`` tasks (on the host twin); the result, and its run in ``store``, carry that
    choice in ``learning_rate_selection`` (the validation runs themselves are not recorded as runs).
    ``none`` trains nothing: it runs as is, without a choice."""
    if method == "none":
        return adapt(model, tasks, classes, board=board, method=method, progress=progress, store=store,
                     workdir=workdir, **adapt_kw)
    sel = choose_learning_rate(model, validation, classes, method, grid, progress=progress, **adapt_kw)
    return adapt(model, tasks, classes, board=board, method=method, learning_rate=sel["learning_rate"],
                 progress=progress, store=store, workdir=workdir, rate_selection=sel, **adapt_kw)
