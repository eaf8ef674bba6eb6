"""The self-contained HTML report over a real results database."""
from __future__ import annotations

import base64
import io
import re
import sys
from pathlib import Path

import pytest
from PIL import Image

from mcuforge.results import ResultsStore, render_report, write_report

IDENT = dict(model_name="kws_cnn", model_hash="ab" * 32, board="netduinoplus2", firmware_hash="cd" * 32,
             cycles_kind="emulated-instructions")
LAYERS = [("conv2d", 100_000, 250_000), ("depthwise_conv2d", 20_000, 80_000), ("conv2d", 400_000, 600_000),
          ("avg_pool2d", 0, 5_000), ("fully_connected", 4_000, 9_000), ("softmax", 0, 3_000)]


def pngs(html: str) -> list[Image.Image]:
    out = []
    for b64 in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html):
        img = Image.open(io.BytesIO(base64.b64decode(b64)))
        img.load()  # decodes every pixel; raises on a truncated or corrupt PNG
        out.append(img)
    return out


def section(html: str, run_id: int) -> str:
    m = re.search(rf'<section id="run-{run_id}">(.*?)</section>', html, re.S)
    assert m, f"no section for run {run_id}"
    return m.group(1)


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "r.db"
    s = ResultsStore(path)
    ids = {}
    with s.run("profile", **IDENT) as r:
        r.layers([{"index": i, "op": op, "input_shapes": [(1, 49, 10, 1)], "output_shapes": [(1, 25, 5, 8)],
                   "macs": m, "cycles": c} for i, (op, m, c) in enumerate(LAYERS)])
        r.metrics({"flash_bytes": 48_000, "ram_bytes": 15_000, "arena_bytes": 12_000,
                   "reference_arena_bytes": 21_000})
        ids["profile"] = r.id
    with s.run("validate", **IDENT) as r:
        r.samples([{"index": i, "mismatches": 2 if i == 7 else 0, "max_abs_diff": 1.0 if i == 7 else 0.0,
                    "cycles": 947_000 + (i % 3)} for i in range(40)])
        # As `mcuforge validate` records it: metrics plus a summary that repeats some of them.
        r.metrics({"cycles_median": 947_001.0, "macs_per_cycle": 0.553, "mismatches": 1})
        r.summary.update(board=IDENT["board"], cycles_median=947_001.0, run_id=None, seed=7)
        ids["validate"] = r.id
    with s.run("demo", **IDENT) as r:
        r.metrics({"accuracy_board": 0.912, "accuracy_host": 0.915})
        r.samples([{"index": i, "label": i % 4, "predicted": i % 4 if i % 9 else (i + 1) % 4} for i in range(100)])
        r.summary["class_names"] = ["yes", "no", "up", "down"]
        ids["demo"] = r.id
    with s.run("learn", **IDENT) as r:
        for step in range(20):
            for rule, base in (("hebbian", 0.5), ("sgd", 0.6)):
                r.metric("accuracy", base + 0.3 * (1 - 0.9 ** step), step=step, rule=rule)
        ids["learn"] = r.id
    with pytest.raises(RuntimeError):
        with s.run("validate", **IDENT) as r:
            ids["failed"] = r.id
            r.samples([{"index": 0, "mismatches": 0, "max_abs_diff": 0, "cycles": 901_234}])
            raise RuntimeError("serial timeout waiting for frame 1")
    with s.run("profile", **{**IDENT, "board": "stm32f405-discovery", "cycles_kind": "hardware"}) as r:
        r.layers([{"op": "conv2d", "macs": 1000, "cycles": 2000}, {"op": "softmax", "cycles": 50}])
        ids["hardware"] = r.id
    # Partial records: a layer never timed, a sample with nothing but its index, no identity at all.
    ids["partial"] = s.start_run("profile")
    s.add_layers(ids["partial"], [{"op": "conv2d", "macs": 10}, {"op": "relu"}])
    s.add_samples(ids["partial"], [{"index": 0}])
    yield s, ids
    s.close()


def test_report_has_every_part(populated, tmp_path):
    store, ids = populated
    out = write_report(store, tmp_path / "report.html")
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "could not render" not in html

    # Summary table: one linked row per run.
    summary = re.search(r"<h2>Runs</h2>(.*?)</section>", html, re.S).group(1)
    for rid in ids.values():
        assert f'<a href="#run-{rid}">{rid}</a>' in summary
    assert "1/40 samples mismatch" in summary and "serial timeout" in summary

    prof = section(html, ids["profile"])
    assert "emulated instructions (QEMU -icount)" in prof and "MACs / emulated instr." in prof
    assert "1x49x10x1" in prof and "depthwise_conv2d" in prof
    assert "600,000" in prof and "63.4%" in prof  # conv2d #2: 600k of 947k
    assert "57.1% of the reference arena" in prof  # 12000 / 21000

    val = section(html, ids["validate"])
    assert "1 of 40" in val and "Mismatching samples" in val
    assert "947,001 emulated instr." in val and "0.553 MACs / emulated instr." in val
    # The summary adds only what is not already on the page.
    assert val.count("<dt>board</dt>") == 1 and "<dt>run_id</dt>" not in val
    assert "<dt>cycles_median</dt>" not in val and "<dt>seed</dt>" in val

    demo = section(html, ids["demo"])
    assert "91.20%" in demo and "91.50%" in demo and "Accuracy" in demo

    learn = section(html, ids["learn"])
    assert "accuracy over steps (one line per rule)" in learn

    failed = section(html, ids["failed"])
    assert "failed" in failed and "RuntimeError: serial timeout waiting for frame 1" in failed
    assert "901,234" in failed  # what it measured before failing

    hw = section(html, ids["hardware"])
    assert "hardware cycles" in hw and "MACs / cycle" in hw
    assert "emulated" not in hw  # never mix the two kinds of count

    partial = section(html, ids["partial"])
    assert "cycle counts (kind not recorded)" in partial and "relu" in partial


def test_report_is_self_contained_with_real_pngs(populated):
    store, ids = populated
    html = render_report(store)
    # No external assets: every src is inline data, every link an in-page anchor.
    assert all(v.startswith("data:image/png;base64,") for v in re.findall(r'src="([^"]*)"', html))
    assert all(v.startswith("#") for v in re.findall(r'href="([^"]*)"', html))
    assert "<script" not in html and "<link" not in html
    images = pngs(html)
    # profile: memory + layers; validate: samples; demo: accuracy + confusion; learn: 1;
    # failed: samples; hardware: layers.
    assert len(images) == 8
    for img in images:
        w, h = img.size
        assert 300 <= w <= 1400 and 120 <= h <= 1400, img.size
        colours = img.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 20  # drawn, not blank


def test_layer_chart_scales_with_layers(populated):
    store, ids = populated
    one = pngs(render_report(store, runs=[ids["hardware"]]))
    assert len(one) == 1
    prof = pngs(render_report(store, runs=[ids["profile"]]))
    layer_chart = prof[1]  # after memory
    assert layer_chart.size[1] > one[0].size[1]  # 6 layers draw taller than 2


def test_selected_runs_only(populated):
    store, ids = populated
    html = render_report(store, runs=[ids["demo"], store.get_run(ids["learn"])], title="Demo <night>")
    assert re.findall(r'<section id="run-(\d+)"', html) == [str(ids["demo"]), str(ids["learn"])]
    assert "<title>Demo &lt;night&gt;</title>" in html  # escaped
    assert "QEMU -icount" in html
    newest = render_report(store, max_runs=2)
    assert re.findall(r'<section id="run-(\d+)"', newest) == [str(r.id) for r in store.runs(limit=2)]
    assert f"2 run(s) of {store.count_runs()}" in newest


def test_empty_database(tmp_path):
    with ResultsStore(tmp_path / "empty.db") as s:
        out = write_report(s, tmp_path / "empty.html")
    html = out.read_text()
    assert "No runs recorded yet" in html and "0 run(s)" in html
    assert pngs(html) == []


def test_running_run_without_measurements(tmp_path):
    with ResultsStore(tmp_path / "r.db") as s:
        rid = s.start_run("bench")
        html = render_report(s)
    body = section(html, rid)
    assert "running" in body and "No measurements recorded." in body and "did not finish" in body


def test_bad_output_path(populated, tmp_path):
    store, _ = populated
    with pytest.raises(ValueError, match="is a directory"):
        write_report(store, tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        write_report(store, tmp_path / "missing" / "r.html")
    with pytest.raises(ValueError, match="no run with id 4242"):
        write_report(store, tmp_path / "r.html", runs=[4242])


def test_command_line(populated, tmp_path, capsys):
    from mcuforge.results.__main__ import main

    store, ids = populated
    out = tmp_path / "cli.html"
    assert main(["--db", str(store.path), "report", str(out), "--run", str(ids["profile"])]) == 0
    assert re.findall(r'<section id="run-(\d+)"', out.read_text()) == [str(ids["profile"])]
    assert main(["--db", str(store.path), "runs", "--kind", "demo"]) == 0
    assert "kws_cnn" in capsys.readouterr().out
    assert main(["--db", str(tmp_path / "missing" / "x.db"), "runs"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_early_exit_sweep_is_a_plot_and_a_table(tmp_path):
    """bench/rnn.py's sweep as it records it: one bench run, metrics tagged p_hat."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.rnn import record_sweep

    s = ResultsStore(tmp_path / "r.db")
    sweep = [dict(p_hat=p, accuracy=a, mean_steps=st, full_steps=192, savings=192 / st)
             for p, a, st in ((0.5, 0.61, 40.0), (0.9, 0.83, 96.0), (1.0, 0.84, 192.0))]
    rid = record_sweep(s, sweep, None, None, None, "kws.npz")
    html = section(render_report(s), rid)
    assert "Early-exit sweep" in html and "could not render" not in html
    assert len(pngs(html)) == 1
    rows = re.findall(r"<tr><td class=\"n\">([0-9.]+)</td><td class=\"n\">([0-9.]+)%</td>"
                      r"<td class=\"n\">([0-9.]+)</td><td class=\"n\">([0-9.]+)x</td>", html)
    assert rows == [("0.50", "61.0", "40.0", "4.80"), ("0.90", "83.0", "96.0", "2.00"), ("1.00", "84.0", "192.0", "1.00")]
    assert "<code>exit_sweep_accuracy</code>" not in html  # not repeated as a metrics table
    s.close()
