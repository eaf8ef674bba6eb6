"""The demo's EMI-RNN part (issue 10), tiny: the LSTM baseline and an EMI-FastGRNN trained for an
epoch on a few bags, each run on simavr's Uno (both in fixed point) as the
host's twin decides, with counts, milliseconds at the clock, savings and bytes per row and each
validation a run in the results database."""
from __future__ import annotations

import io

import pytest

from test_rnn_firmware import bags


@pytest.mark.slow  # ~1-2.5 min (two trainings, two AVR builds): like the demo's other parts; its pieces
@pytest.mark.simavr  # (training, fixed-point cells on the Uno, validation) are in the default suite
def test_demo_rnn_part_runs_both_models_on_the_board_as_on_the_host(tmp_path):
    from mcuforge.commands.demo import print_rnn_table
    from mcuforge.results.store import ResultsStore
    from mcuforge.rnn.demo import demo_rnn

    store = ResultsStore(tmp_path / "r.db")
    r = demo_rnn(bags(tmp_path / "bags.npz", n=4), tmp_path / "w", boards=("uno",), hidden=4, epochs=1, rounds=1,
                 uno_samples=3, store=store, progress=False)
    rows = r["rows"]
    assert [(x["model"], x["board"]) for x in rows] == [("LSTM (whole bag)", "uno"), ("EMI-FastGRNN", "uno")]
    for x in rows:
        assert x["ok"] and x["mismatches"] == 0 and x["samples"] == 3 and x["cycles_kind"] == "simulated-cycles"
        assert x["ms_per_prediction"] == pytest.approx(x["counts_per_prediction"] / 16e3)
        assert 0 < x["weights_bytes"] < x["flash_bytes"] <= 32256 and x["ram_bytes"] <= 2048
    lstm, emi = rows
    assert lstm["savings_per_prediction"] == 1.0 and lstm["mean_steps"] == lstm["full_steps"] == 20
    assert emi["savings_per_prediction"] > 1 and emi["full_steps"] == 3 * 12  # windows of 12 every 4 over 20
    assert {run.board for run in store.runs(kind="validate")} == {"uno"} and store.count_runs("validate") == 2
    out = io.StringIO()
    print_rnn_table(r, out)
    assert "simulated cycles" in out.getvalue() and "(simulated)" in out.getvalue() and "91.13%" in out.getvalue()


def test_demo_refuses_an_unknown_rnn_board_before_any_work(tmp_path):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "mcuforge", "demo", "--part", "rnn", "--rnn-boards", "uno,nosuch",
                        "--workdir", tmp_path / "w"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "unknown board 'nosuch'" in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert not (tmp_path / "w").exists()  # no dataset built
