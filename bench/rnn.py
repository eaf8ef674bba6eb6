"""EMI-RNN on the boards (issue 10 §3): on one data set, an LSTM over the whole bag against
MI-RNN (LSTM windows and the bag rule, no early exit), EMI-LSTM and EMI-FastGRNN (windows that
stop early), each trained here and then run on each board through ``validate --data``: accuracy
on the board (= host, checked), cell steps and counts per bag and per prediction measured on the
board (emulated instructions under QEMU, simulated cycles under simavr: never hardware timings),
savings against the LSTM, flash, RAM and model bytes; then the early-exit threshold sweep of
EMI-FastGRNN (p_hat against accuracy and savings), recorded in the results database for
``mcuforge report``'s plot.

    python -m bench.rnn [--data DATA] [--boards netduinoplus2,mps2-an385,uno] [--hidden 16] [--samples N]

``--data`` is anything ``mcuforge train rnn`` reads; a keyword folder (``mcuforge data kws``) is
the paper's Google-13 protocol (32 log-mel bands every 10 ms, ~98 steps; 12 keywords, the rest
negative) and gets windows of 48 steps every 16. Without --data: the synthetic multiple-instance
bags of tests/test_rnn_train.py (noise bags, two classes hold a short pattern at a random place:
negative class 0).

Two costs: **per bag** (one whole clip decided: every instance of the bag, as ``validate``
streams it) and **per prediction** in a stream (a device that decides every ``stride`` frames
runs one instance per decision, the LSTM its whole window: the board's counts per bag over its
instances per bag). The paper's savings are per prediction. The paper's Table 3 (Dennis et al.
2018): Google-13 LSTM-64 91.13% vs EMI-LSTM-32 92.61% at 8x less compute; HAR-6 10.5x;
GesturePod-6 72x. A board that a model does not fit is reported with the reason.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from mcuforge.rnn.compare import BASELINE, PAPER, SWEPT, configs, costs, keyword_windows, prepare

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

HEADERS = ["model", "board", "format", "accuracy (board = host)", "steps/bag", "counts/bag", "counts/prediction", "kind",
           "savings/bag", "savings/prediction", "flash B", "RAM B", "weights B"]
SWEEP = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def number_format(loaded, board: str) -> str:
    """How ``board`` runs the model: float32 on an FPU, fixed point (every cell) without one."""
    from mcuforge.boards import load_board
    from mcuforge.model.keras_rnn import graph_for_board

    b = load_board(board)
    g = graph_for_board(loaded, b)
    if g.tensors[g.inputs[0]].dtype != "float32":
        return "fixed point"
    return "float32"


def row(name: str, board: str, fmt: str, v, weights: int, base: dict | None) -> list:
    c = costs(v)
    acc = f"{v.accuracy_board:.1%}" + ("" if v.ok else f" (host {v.accuracy_host:.1%}, {v.mismatches} DIFFER)")
    save = (lambda key: f"{base[key] / c[key]:.2f}x") if base else (lambda key: "-")
    return [name, board, fmt, acc, f"{v.mean_steps:.1f} of {v.full_steps:.0f}", round(c["bag"]), round(c["prediction"]),
            v.cycles_kind, save("bag"), save("prediction"), v.flash_bytes, v.ram_bytes, weights]


def record_sweep(store, sweep: list[dict], board: str | None, v, lstm: dict | None, data: str) -> int:
    """The sweep as one bench run: per p_hat, accuracy, steps and savings (against the same windows
    without exit; against the LSTM from the board's counts per step where both ran on ``board``)."""
    rid = store.start_run("bench", model_name=f"{SWEPT} early-exit sweep", board=board,
                          model_hash=v.model_hash if v else None, cycles_kind=v.cycles_kind if v else None,
                          summary=dict(data=data, sweep="exit", measured_on="host: the Keras model's step "
                                       "probabilities and the device's exit rule (mcuforge.train.rnn.exit_sweep)"))
    for s in sweep:
        values = {"exit_sweep_accuracy": (s["accuracy"], "fraction"), "exit_sweep_steps": s["mean_steps"],
                  "exit_sweep_savings": (s["savings"], "x")}
        if v is not None and lstm is not None:
            values["exit_sweep_savings_vs_lstm"] = (lstm["bag"] / (costs(v)["per_step"] * s["mean_steps"]), "x")
        store.add_metrics(rid, values, p_hat=s["p_hat"])
    store.finish_run(rid, summary=dict(points=len(sweep)))
    return rid


def main(argv=None) -> int:
    from mcuforge.commands._common import table
    from mcuforge.errors import exit_code_for
    from mcuforge.model.loader import load
    from mcuforge.results.store import ResultsStore
    from mcuforge.rnn.validation import validate_rnn
    from mcuforge.train.rnn import exit_sweep, save_rnn, train_rnn

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None)
    p.add_argument("--boards", default="netduinoplus2,mps2-an385,uno")
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--window", type=int, default=None, help="steps per instance (default 12; keywords 48)")
    p.add_argument("--stride", type=int, default=None, help="steps between instances (default 4; keywords 16)")
    p.add_argument("--epochs", type=int, default=8, help="epochs per round")
    p.add_argument("--rounds", type=int, default=3, help="MI-RNN rounds")
    p.add_argument("--p-hat", type=float, default=0.9)
    p.add_argument("--samples", type=int, default=None, help="test bags per board (default: all)")
    p.add_argument("--uno-samples", type=int, default=20,
                   help="test bags on the Uno (an LSTM over a keyword clip takes seconds of simulation)")
    p.add_argument("--models", default=None, help="comma-separated subset of the rows")
    p.add_argument("--db", default="mcuforge.db")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mcuforge-bench-rnn-"))
    data = source = args.data
    if data is None:
        from test_rnn_train import synthetic_bags

        data = source = str(synthetic_bags(work / "bags.npz"))
    keywords = Path(data).is_dir()
    window, stride = keyword_windows(data)
    window, stride = args.window or window, args.stride or stride
    ds, data = prepare(data, work)
    store = ResultsStore(args.db)
    rows, baseline, swept = [], {}, {}
    chosen = configs(args.hidden, window, stride, args.epochs, args.rounds, args.p_hat)
    if args.models:
        chosen = {n: c for n, c in chosen.items() if n in args.models.split(",")}
    for name, cfg in chosen.items():
        model, report = train_rnn(ds, cfg, progress=False)
        tag = name.split(" ")[0].lower()
        path = save_rnn(model, cfg, ds, work / f"{tag}.rnn.keras", report)
        loaded = load(path)
        weights = sum(t.nbytes for t in loaded.graph.constants())
        print(f"{name}: Keras test accuracy {report.get('test_accuracy', float('nan')):.1%}, "
              f"{report.get('test_mean_steps', 0):.1f} steps/bag", flush=True)
        for board in args.boards.split(","):
            samples = args.uno_samples if board == "uno" and args.uno_samples else args.samples
            try:
                v = validate_rnn(path, board, data, samples=samples, workdir=work / f"fw-{tag}-{board}",
                                 store=store, progress=False)
            except Exception as exc:  # a model that does not fit a board, or has no kernel for it
                rows.append([name, board, number_format(loaded, board), f"not run: {str(exc).splitlines()[0][:90]} (exit {exit_code_for(exc)})",
                             "", "", "", "", "", "", "", "", weights])
                continue
            if name == BASELINE:
                baseline[board] = costs(v)
            if name == SWEPT:
                swept[board] = v
            rows.append(row(f"{name} ({v.samples} bags)", board, number_format(loaded, board), v, weights,
                            baseline.get(board)))
        if name == SWEPT:
            X, y = ds.split("test")
            sweep = exit_sweep(model, cfg, X, y, ds.negative, SWEEP)
            board = next(iter(swept), None)
            record_sweep(store, sweep, board, swept.get(board), baseline.get(board), source)
            print(f"early-exit sweep of {SWEPT} (host, Keras; test split): " + ", ".join(
                f"p_hat {s['p_hat']:.2f}: {s['accuracy']:.1%} at {s['savings']:.2f}x" for s in sweep))
    if keywords:
        Path(data).unlink()  # ~80 MB of frames; the models and firmware stay in the work folder
    print(f"EMI-RNN on {source} (test split; savings against the LSTM on the same board; models in {work})")
    table(rows, HEADERS, sys.stdout)
    print(PAPER)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
