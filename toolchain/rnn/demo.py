"""The demo's EMI-RNN part (issue 10): on the keyword data (the Google-13 protocol: 32 log-mel
bands every 10 ms, 12 keywords positive, the rest negative) it trains the LSTM baseline over
the whole clip and an EMI-FastGRNN (windows of 48 steps every 16 that stop early), runs both
on each board through ``validate --data`` (every test clip decided on the board as by the
host's twin), and reports accuracy, counts and milliseconds per prediction at the board's clock
(emulated instructions on QEMU, simulated cycles on simavr: never hardware timings), the
savings against the LSTM, early exits and bytes, next to the papers' numbers. Small by default
(hidden 8, 2 epochs, 2 MI-RNN rounds, a sample of the test clips): minutes, not hours; the
accuracies it reaches say nothing about what longer training gets (bench/rnn.py does that).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..demo import _say
from .compare import BASELINE, PAPER, SWEPT, configs, costs, keyword_windows, prepare

BOARDS = ("netduinoplus2", "uno")
PAPERS = (PAPER, "paper (Kusupati et al. 2018): FastGRNN 92.1% on Google-12 in 5.5 KB; 537 ms per prediction "
                 "on an Arduino MKR1000 (Cortex-M0+, 48 MHz)")


def demo_rnn(data, workdir, boards=BOARDS, hidden: int = 8, epochs: int = 2, rounds: int = 2, samples: int = 40,
             uno_samples: int = 8, seed: int = 0, store=None, progress: bool = True) -> dict:
    """Train, flash and validate the LSTM baseline and EMI-FastGRNN on ``data`` (a keyword folder,
    or anything ``mcuforge train rnn`` reads) on each of ``boards``. Returns {"rows": [...],
    "models": {...}, "paper": [...]}; each validation is also a run in ``store``."""
    from ..errors import exit_code_for
    from ..model.loader import load
    from ..train.rnn import save_rnn, train_rnn
    from .validation import validate_rnn

    work = Path(workdir) / "rnn"
    work.mkdir(parents=True, exist_ok=True)
    window, stride = keyword_windows(data)
    _say(f"EMI-RNN: sequences of {data} (windows of {window} steps every {stride})")
    ds, bags = prepare(data, work, seed)
    window = min(window, ds.steps)
    chosen = configs(hidden, window, min(stride, window), epochs=epochs, rounds=rounds, seed=seed)
    rows, models, baseline = [], {}, {}
    for name in (BASELINE, SWEPT):
        cfg = chosen[name]
        _say(f"train {name} (hidden {cfg.hidden}, {cfg.epochs} epochs x {cfg.rounds if cfg.emi else 1} rounds)")
        model, report = train_rnn(ds, cfg, progress=progress)
        path = save_rnn(model, cfg, ds, work / f"{name.split(' ')[0].lower()}.rnn.keras", report)
        weights = sum(t.nbytes for t in load(path).graph.constants())
        models[name] = dict(path=str(path), weights_bytes=weights, keras_test_accuracy=report.get("test_accuracy"))
        for board in boards:
            n = uno_samples if board == "uno" else samples
            _say(f"{name} on {board}: generate, build, flash, {n} test clips")
            try:
                v = validate_rnn(path, board, bags, samples=n, workdir=work / f"fw-{path.stem}-{board}",
                                 store=store, progress=progress)
            except Exception as exc:  # a model that does not fit a board: reported with the reason
                rows.append(dict(model=name, board=board, error=f"{str(exc).splitlines()[0]} (exit {exit_code_for(exc)})"))
                continue
            c = costs(v)
            if name == BASELINE:
                baseline[board] = c
            base = baseline.get(board)
            rows.append(dict(
                model=name, board=board, samples=v.samples, ok=v.ok, mismatches=v.mismatches,
                accuracy_board=v.accuracy_board, accuracy_host=v.accuracy_host, cycles_kind=v.cycles_kind,
                counts_per_bag=c["bag"], counts_per_prediction=c["prediction"], clock_hz=v.clock_hz,
                ms_per_prediction=c["prediction"] * 1e3 / v.clock_hz if v.clock_hz else None,
                savings_per_prediction=base["prediction"] / c["prediction"] if base else None,
                mean_steps=v.mean_steps, full_steps=v.full_steps, mean_exit_step=v.mean_exit_step,
                flash_bytes=v.flash_bytes, ram_bytes=v.ram_bytes, weights_bytes=weights, run_id=v.run_id))
    return dict(data=str(data), window=window, stride=min(stride, window), rows=rows, models=models,
                paper=list(PAPERS), config={k: asdict(chosen[k]) for k in models})
