"""EMI-RNN on the boards (issue 10 §3): on one data set, an LSTM over the whole bag against
EMI-LSTM and EMI-FastGRNN (multiple-instance windows that stop early), each trained here and then
run on each board through ``validate --data``: accuracy on the board (= host, checked), cell steps
and counts per bag measured on the board (emulated instructions under QEMU, simulated cycles
under simavr: never hardware timings), savings against the LSTM, flash, RAM and model bytes.

    python -m bench.rnn [--data DATA] [--boards netduinoplus2,mps2-an385,uno] [--hidden 16]

Without --data it makes the synthetic multiple-instance bags of tests/test_rnn_train.py (noise
bags, two classes hold a short pattern at a random place: negative class 0). The paper's
Table 3 (Dennis et al. 2018) for comparison: Google-13 LSTM-64 91.13% vs EMI-LSTM-32 92.61% at
8x less compute; HAR-6 10.5x; GesturePod-6 72x. A board that a model does not fit is reported
with the reason (LSTM and GRU have no fixed-point kernels: on cores without an FPU they are not
generated).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

HEADERS = ["model", "board", "accuracy (board = host)", "steps/bag", "counts/bag", "kind", "savings vs LSTM",
           "flash B", "RAM B", "weights B"]


def configs(hidden: int, window: int, stride: int) -> dict:
    from mcuforge.train.rnn import RnnConfig

    common = dict(hidden=hidden, epochs=8, batch_size=32, learning_rate=0.02, k=1, p_hat=0.9, kappa=2)
    return {"LSTM (whole bag)": RnnConfig(cell="lstm", emi=False, window=window, stride=stride, **common),
            "EMI-LSTM": RnnConfig(cell="lstm", emi=True, rounds=3, window=window, stride=stride, **common),
            "EMI-FastGRNN": RnnConfig(cell="fastgrnn", emi=True, rounds=3, window=window, stride=stride,
                                      rank=max(2, hidden // 4), **common)}


def main(argv=None) -> int:
    from mcuforge.commands._common import table
    from mcuforge.data.sequences import load_sequences
    from mcuforge.errors import exit_code_for
    from mcuforge.model.loader import load
    from mcuforge.rnn.validation import validate_rnn
    from mcuforge.train.rnn import save_rnn, train_rnn

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None)
    p.add_argument("--boards", default="netduinoplus2,mps2-an385,uno")
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--window", type=int, default=12)
    p.add_argument("--stride", type=int, default=4)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mcuforge-bench-rnn-"))
    data = args.data
    if data is None:
        from test_rnn_train import synthetic_bags

        data = str(synthetic_bags(work / "bags.npz"))
    ds = load_sequences(data)
    rows, baseline = [], {}
    for name, cfg in configs(args.hidden, args.window, args.stride).items():
        model, report = train_rnn(ds, cfg, progress=False)
        path = save_rnn(model, cfg, ds, work / f"{cfg.cell}-{int(cfg.emi)}.rnn.keras", report)
        weights = sum(t.nbytes for t in load(path).graph.constants())
        for board in args.boards.split(","):
            try:
                v = validate_rnn(path, board, data, workdir=work / f"fw-{cfg.cell}-{int(cfg.emi)}-{board}",
                                 progress=False)
            except Exception as exc:  # a model that does not fit a board, or has no kernel for it
                rows.append([name, board, f"not run: {str(exc).splitlines()[0][:90]} (exit {exit_code_for(exc)})",
                             "", "", "", "", "", "", weights])
                continue
            s = v.summary()
            if name.startswith("LSTM"):
                baseline[board] = s["cycles_median"]
            savings = baseline[board] / s["cycles_median"] if board in baseline else None
            acc = f"{v.accuracy_board:.1%}" + ("" if v.ok else f" (host {v.accuracy_host:.1%}, {v.mismatches} DIFFER)")
            rows.append([name, board, acc, f"{v.mean_steps:.1f} of {v.full_steps:.0f}", round(s["cycles_median"]),
                         v.cycles_kind, f"{savings:.2f}x" if savings else "-", v.flash_bytes, v.ram_bytes, weights])
    print(f"EMI-RNN on {data} (test split)")
    table(rows, HEADERS, sys.stdout)
    print("paper (Dennis et al. 2018, Table 3): Google-13 LSTM-64 91.13% vs EMI-LSTM-32 92.61% at 8x less compute; "
          "HAR-6 10.5x; GesturePod-6 72x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
