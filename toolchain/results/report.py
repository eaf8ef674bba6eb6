"""One self-contained HTML report of the results store (plots inline as base64 PNG).

A summary table of runs, then one section per run with what it measured: scalar metrics,
memory against TFLM's arena, per-layer cycles, validation samples, accuracy board vs host,
and step series (on-device learning). Every cycle figure names its kind: QEMU's counts are
emulated instructions, never hardware timings. A run that failed half-way shows whatever it
had written.
"""
from __future__ import annotations

import base64
import html
import json
import os
import statistics
import tempfile
import traceback
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from . import plots
from .store import LayerRow, Metric, ResultsStore, RunRecord, SampleRow, toolchain_version

CYCLES_LABELS = {
    "emulated-instructions": "emulated instructions (QEMU -icount)",
    "simulated-cycles": "simulated cycles (simavr)",
    "hardware": "hardware cycles",
}
CYCLES_SHORT = {"emulated-instructions": "emulated instr.", "simulated-cycles": "sim. cycles", "hardware": "hw cycles"}
MEMORY_LABELS = {
    "flash_bytes": "flash (code + weights)",
    "ram_bytes": "RAM (static, total)",
    "arena_bytes": "arena (mcuforge plan)",
    "reference_arena_bytes": "arena (TFLM reference)",
}
# Shown in the summary table when present, in this order.
HEADLINE_METRICS = ("accuracy_board", "accuracy_host", "cycles_median", "total_cycles", "flash_bytes",
                    "arena_bytes", "reference_arena_bytes")
MAX_HEADLINES = 4
MAX_MISMATCH_ROWS = 25
MAX_CLASSES = 40
MAX_SUMMARY_CHARS = 400
DEFAULT_MAX_RUNS = 100  # each run draws a few charts; older runs stay in the database

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2933;
 margin:0;background:#f4f6f8}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 10px}h3{font-size:14px;margin:18px 0 6px;
 color:#52606d;text-transform:uppercase;letter-spacing:.04em}
.sub{color:#616e7c;font-size:12.5px}
.note{background:#fff8e6;border-left:4px solid #f0b429;padding:8px 12px;margin:14px 0;font-size:13px}
.err{background:#fdecec;border-left:4px solid #c23b3b;padding:8px 12px;margin:10px 0;font-size:13px;
 white-space:pre-wrap;font-family:ui-monospace,Menlo,Consolas,monospace}
section{background:#fff;border:1px solid #e1e5ea;border-radius:8px;padding:16px 20px;margin:18px 0}
table{border-collapse:collapse;width:100%;font-size:12.5px;margin:4px 0 8px}
th,td{padding:4px 8px;border-bottom:1px solid #edf0f3;text-align:left;vertical-align:top}
th{background:#f7f9fb;color:#3e4c59;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:600;border-top:2px solid #d5dbe1}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:11.5px;font-weight:600}
.ok{background:#e3f4e8;color:#1e6b37}.failed{background:#fdecec;color:#a12b2b}
.interrupted{background:#fff3dc;color:#8a5a00}.running{background:#e6effa;color:#2d5a94}
dl.id{display:grid;grid-template-columns:150px 1fr;gap:2px 12px;margin:0 0 6px;font-size:12.5px}
dl.id dt{color:#616e7c}dl.id dd{margin:0;word-break:break-all}
img{max-width:100%;height:auto;display:block;margin:6px 0}
a{color:#2d5a94;text-decoration:none}
.empty{color:#616e7c;font-style:italic}
"""


# ---- formatting --------------------------------------------------------------------------
def cycles_label(cycles_kind: str | None) -> str:
    return CYCLES_LABELS.get(cycles_kind or "", "cycle counts (kind not recorded)")


def per_cycle_label(cycles_kind: str | None) -> str:
    return {"emulated-instructions": "MACs / emulated instr.", "simulated-cycles": "MACs / simulated cycle",
            "hardware": "MACs / cycle"}.get(
        cycles_kind or "", "MACs / count (kind unknown)")


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _int(n: float | None) -> str:
    return "—" if n is None else f"{int(round(n)):,}"


def _bytes(n: float) -> str:
    return f"{int(n):,} B ({n / 1024:,.1f} KiB)" if n >= 1024 else f"{int(n):,} B"


def _short_hash(h: str | None, n: int = 12) -> str:
    return "—" if not h else h[:n]


def _time(iso: str | None) -> str:
    if not iso:
        return "—"
    try:
        return datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return iso


def _duration(run: RunRecord) -> str:
    if not run.finished_at:
        return "—"
    try:
        s = (datetime.fromisoformat(run.finished_at) - datetime.fromisoformat(run.started_at)).total_seconds()
    except ValueError:
        return "—"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def _is_percent_like(m: Metric) -> bool:
    return m.name.startswith("accuracy") and (m.unit == "%" or (m.unit is None and 0 <= m.value <= 1))


def _percent(m: Metric) -> float:
    return m.value if m.unit == "%" else m.value * 100


def format_metric(m: Metric, cycles_kind: str | None) -> str:
    """A value with its unit; cycle counts carry their kind, bytes get KiB, fractions become %."""
    if "cycles" in m.name and m.unit in (None, "cycles", "instructions"):
        return f"{_int(m.value)} {CYCLES_SHORT.get(cycles_kind or '', 'counts (kind?)')}"
    if m.name == "macs_per_cycle" and m.unit is None:
        return f"{m.value:.3f} {per_cycle_label(cycles_kind)}"
    if m.name.endswith("_bytes") or m.unit in ("B", "bytes"):
        return _bytes(m.value)
    if _is_percent_like(m):
        return f"{_percent(m):.2f}%"
    text = f"{m.value:,.0f}" if float(m.value).is_integer() and abs(m.value) < 1e15 else f"{m.value:.6g}"
    return f"{text} {m.unit}" if m.unit else text


def _tags(tags: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def _status(status: str) -> str:
    cls = status if status in ("ok", "failed", "interrupted", "running") else "running"
    return f'<span class="badge {cls}">{_e(status)}</span>'


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(head: Sequence[str] | None, rows: Iterable[Sequence[str]], numeric: Iterable[int] = (),
           total: Sequence[str] | None = None) -> str:
    """Cells are already-escaped HTML; ``numeric`` column indices are right-aligned."""
    num = set(numeric)
    cls = lambda i: ' class="n"' if i in num else ""  # noqa: E731
    out = ["<table>"]
    if head is not None:
        out += ["<thead><tr>", *(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(head)), "</tr></thead>"]
    out.append("<tbody>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(r)) + "</tr>")
    if total is not None:
        out.append('<tr class="total">' + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(total)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


# ---- what a run holds ----------------------------------------------------------------------
class _RunData:
    def __init__(self, store: ResultsStore, run: RunRecord):
        self.run = run
        self.metrics: list[Metric] = store.metrics(run.id)
        self.layers: list[LayerRow] = store.layers(run.id)
        self.samples: list[SampleRow] = store.samples(run.id)
        self.artifacts = store.artifacts(run.id)
        # Step-less metrics: the last value of each (name, tags) wins, in first-seen order.
        last: dict[tuple[str, str], Metric] = {}
        for m in self.metrics:
            if m.step is None:
                last[(m.name, _tags(m.tags))] = m
        self.scalars = list(last.values())
        self.stepped = [m for m in self.metrics if m.step is not None]

    def scalar(self, name: str) -> Metric | None:
        return next((m for m in self.scalars if m.name == name and not m.tags), None)


def _headlines(d: _RunData) -> list[str]:
    ck = d.run.cycles_kind
    out: list[str] = []
    if d.run.status in ("failed", "interrupted") and d.run.summary.get("error"):
        out.append(f'<span class="failed badge">{_e(str(d.run.summary["error"])[:80])}</span>')
    for name in HEADLINE_METRICS:
        m = d.scalar(name)
        if m is not None and len(out) < MAX_HEADLINES:
            out.append(f"{_e(name)}: {_e(format_metric(m, ck))}")
    if d.samples and any(s.mismatches is not None for s in d.samples):
        bad = sum(1 for s in d.samples if s.mismatches)
        n = len(d.samples)
        out.append(f"bit-exact on {n} sample{'s' if n != 1 else ''}" if not bad
                   else f"{bad}/{len(d.samples)} samples mismatch")
    cyc = [l.cycles for l in d.layers if l.cycles is not None]
    if cyc:
        out.append(f"{len(d.layers)} layers, {_int(sum(cyc))} {CYCLES_SHORT.get(ck or '', 'counts (kind?)')}")
    if not out:
        out.extend(f"{_e(m.name)}: {_e(format_metric(m, ck))}" for m in d.scalars[:MAX_HEADLINES])
    if d.stepped:
        n = len({m.step for m in d.stepped})
        out.append(f"{n} step{'s' if n != 1 else ''}")
    return out


def _summary_table(data: list[_RunData]) -> str:
    rows = []
    for d in data:
        r = d.run
        model = _e(r.model_name or "—") + (f' <span class="mono sub">{_e(_short_hash(r.model_hash))}</span>'
                                           if r.model_hash else "")
        rows.append((f'<a href="#run-{r.id}">{r.id}</a>', _e(r.kind), model, _e(r.instance or r.board or "—"),
                     _status(r.status), _e(_time(r.started_at)), _e(_duration(r)),
                     f'<span class="mono">{_e(_short_hash(r.firmware_hash))}</span>',
                     "<br>".join(_headlines(d)) or '<span class="empty">no measurements</span>'))
    return _table(["run", "kind", "model", "board", "status", "started", "took", "firmware", "key results"],
                  rows, numeric=[0])


# ---- per-run parts ------------------------------------------------------------------------
def _identity(r: RunRecord, shown_as_metrics: set[str]) -> str:
    items = [("model", _e(r.model_name or "—")),
             ("model hash", f'<span class="mono">{_e(r.model_hash or "—")}</span>'),
             ("board", _e(r.board or "—")),
             *([("board instance", _e(r.instance))] if r.instance else []),
             *([("fleet run", f'<a href="#fleet-{r.fleet_id}">{r.fleet_id}</a>')] if r.fleet_id else []),
             ("firmware hash", f'<span class="mono">{_e(r.firmware_hash or "—")}</span>'),
             ("toolchain", _e(r.toolchain or "—")), ("host", _e(r.host or "—")),
             ("started", _e(_time(r.started_at))), ("finished", _e(_time(r.finished_at))),
             ("cycle counts", _e(cycles_label(r.cycles_kind)))]
    for k, v in sorted(r.summary.items()):
        # Skip what the page already shows: the error box, identity columns, metrics.
        if (v is None or k == "error" or k in shown_as_metrics
                or (k in RunRecord.__dataclass_fields__ and getattr(r, k) == v)):
            continue
        text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        if len(text) > MAX_SUMMARY_CHARS:
            text = text[:MAX_SUMMARY_CHARS] + " …"
        items.append((_e(k), f'<span class="mono">{_e(text)}</span>'))
    return '<dl class="id">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _metrics_part(d: _RunData) -> str:
    scalars = [m for m in d.scalars if not m.name.startswith(SWEEP_PREFIX)]  # the sweep part shows those
    if not scalars:
        return ""
    tagged = any(m.tags for m in scalars)
    rows = [(f"<code>{_e(m.name)}</code>", _e(format_metric(m, d.run.cycles_kind)))
            + ((_e(_tags(m.tags)),) if tagged else ()) for m in scalars]
    return "<h3>Metrics</h3>" + _table(["name", "value"] + (["tags"] if tagged else []), rows)


def _memory_part(d: _RunData) -> str:
    mems = [m for m in d.scalars if m.name.endswith("_bytes") and not m.tags]
    if not mems:
        return ""
    known = [m for m in mems if m.name in MEMORY_LABELS]
    others = [m for m in mems if m.name not in MEMORY_LABELS]
    order = sorted(known, key=lambda m: list(MEMORY_LABELS).index(m.name)) + others
    labels = [MEMORY_LABELS.get(m.name, m.name) for m in order]
    png = plots.memory_bars(labels, [m.value for m in order], [m.name.startswith("reference") for m in order])
    text = ""
    arena, ref = d.scalar("arena_bytes"), d.scalar("reference_arena_bytes")
    if arena and ref and ref.value > 0:
        text = (f'<p class="sub">arena {_bytes(arena.value)} vs TFLM {_bytes(ref.value)}: '
                f"{arena.value / ref.value * 100:.1f}% of the reference arena.</p>")
    return "<h3>Memory</h3>" + _img(png, "memory use in bytes") + text


def _accuracy_part(d: _RunData) -> str:
    accs = [m for m in d.scalars if _is_percent_like(m) and not m.tags]
    out = ""
    if accs:
        labels = [m.name.removeprefix("accuracy_").removeprefix("accuracy") or "accuracy" for m in accs]
        out += "<h3>Accuracy</h3>" + _img(plots.accuracy_bars(labels, [_percent(m) for m in accs]),
                                         "accuracy, board vs host")
    pairs = [(s.label, s.predicted) for s in d.samples if s.label is not None and s.predicted is not None]
    if pairs:
        classes = sorted({c for p in pairs for c in p})
        hits = sum(1 for a, b in pairs if a == b)
        out += (f'<p class="sub">From {len(pairs)} per-sample predictions stored with the run: '
                f"{hits}/{len(pairs)} correct ({hits / len(pairs) * 100:.2f}%).</p>")
        if len(classes) <= MAX_CLASSES:
            names = d.run.summary.get("class_names")
            pos = {c: i for i, c in enumerate(classes)}
            mat = [[0] * len(classes) for _ in classes]
            for a, b in pairs:
                mat[pos[a]][pos[b]] += 1
            label = (lambda c: str(names[c]) if isinstance(names, list) and 0 <= c < len(names) else str(c))
            out += _img(plots.confusion(mat, [label(c) for c in classes]), "confusion matrix")
    return out


def _layers_part(d: _RunData) -> str:
    if not d.layers:
        return ""
    ck = d.run.cycles_kind
    clabel = cycles_label(ck)
    out = "<h3>Layers</h3>"
    timed = [l for l in d.layers if l.cycles is not None]
    if timed:
        title = f"Per layer: {clabel}"
        out += _img(plots.layer_cycles([f"{l.index} {l.op}" for l in timed], [l.cycles for l in timed],
                                       [l.share for l in timed], clabel, title), title)
        if len(timed) > plots.MAX_BARS:
            out += f'<p class="sub">Chart shows the first {plots.MAX_BARS} layers; the table lists all.</p>'
    rows = []
    for l in d.layers:
        per = (f"{l.macs / l.cycles:.3f}" if l.macs is not None and l.cycles else "—")
        rows.append((str(l.index), _e(l.name or ""), f"<code>{_e(l.op)}</code>",
                     f'<span class="mono">{_e(l.input_shapes or "")}</span>',
                     f'<span class="mono">{_e(l.output_shapes or "")}</span>', _int(l.macs), _int(l.cycles),
                     per, "—" if l.share is None else f"{l.share * 100:.1f}%"))
    macs = [l.macs for l in d.layers if l.macs is not None]
    cyc = [l.cycles for l in timed]
    tm, tc = (sum(macs) if macs else None), (sum(cyc) if cyc else None)
    total = ["", "total", "", "", "", _int(tm), _int(tc), f"{tm / tc:.3f}" if tm and tc else "—",
             "100%" if tc else "—"]
    return out + _table(["#", "name", "op", "input shapes", "output shapes", "MACs", _e(clabel),
                         _e(per_cycle_label(ck)), "share"], rows, numeric=[0, 5, 6, 7, 8], total=total)


def _samples_part(d: _RunData) -> str:
    if not d.samples:
        return ""
    ck = d.run.cycles_kind
    clabel = cycles_label(ck)
    s = d.samples
    checked = [x for x in s if x.mismatches is not None]
    bad = [x for x in checked if x.mismatches]
    diffs = [x.max_abs_diff for x in s if x.max_abs_diff is not None]
    cyc = [x.cycles for x in s if x.cycles is not None]
    facts = [("samples", f"{len(s):,}")]
    if checked:
        facts.append(("samples with mismatching outputs", f"{len(bad):,} of {len(checked):,}"
                      + (" — bit-exact" if not bad else "")))
        facts.append(("mismatching output elements", f"{sum(x.mismatches for x in checked):,}"))
    if diffs:
        facts.append(("largest |board − reference|", f"{max(diffs):g}"))
    if cyc:
        facts.append((f"{clabel} per inference",
                      f"median {_int(statistics.median(cyc))}, min {_int(min(cyc))}, max {_int(max(cyc))}"))
    out = "<h3>Samples</h3>" + _table(None, [(_e(k), _e(v)) for k, v in facts])
    if cyc or any(diffs):
        out += _img(plots.sample_panels([x.index for x in s], [x.cycles for x in s],
                                        [x.max_abs_diff for x in s], clabel), "per-sample measurements")
    if bad:
        rows = [(str(x.index), _int(x.mismatches), "—" if x.max_abs_diff is None else f"{x.max_abs_diff:g}",
                 _int(x.cycles)) for x in bad[:MAX_MISMATCH_ROWS]]
        more = f" (first {MAX_MISMATCH_ROWS} of {len(bad)})" if len(bad) > MAX_MISMATCH_ROWS else ""
        out += f"<p><b>Mismatching samples{more}</b></p>" + _table(
            ["sample", "mismatching elements", "max |diff|", _e(clabel)], rows, numeric=[0, 1, 2, 3])
    return out


def _steps_part(d: _RunData) -> str:
    if not d.stepped:
        return ""
    # metric name -> series label (its tags, e.g. "rule=hebbian") -> [(step, value)]
    by_name: dict[str, dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    tag_keys: dict[str, set[str]] = defaultdict(set)
    units: dict[str, str | None] = {}
    for m in d.stepped:
        by_name[m.name][_tags(m.tags)].append((m.step, m.value))
        tag_keys[m.name].update(m.tags)
        units.setdefault(m.name, m.unit)
    out = "<h3>Over steps</h3>"
    for name, groups in by_name.items():
        series = {label: ([p[0] for p in sorted(pts)], [p[1] for p in sorted(pts)])
                  for label, pts in groups.items()}
        if "cycles" in name:
            ylabel = f"{name}: {cycles_label(d.run.cycles_kind)}"
        else:
            ylabel = name + (f" ({units[name]})" if units[name] else "")
        title = f"{name} over steps"
        if len(groups) > 1 and tag_keys[name]:
            title += f" (one line per {', '.join(sorted(tag_keys[name]))})"
        out += _img(plots.step_lines(series, ylabel, title), title)
    return out


def _by_classes(runs: list[_RunData], key: str) -> dict[str, list[_RunData]]:
    """Runs grouped by the class names their summary lists under ``key``."""
    groups: dict[str, list[_RunData]] = defaultdict(list)
    for d in runs:
        groups[", ".join((d.run.summary or {}).get(key) or []) or "unknown"].append(d)
    return groups


def _learning_part(data: list[_RunData]) -> str:
    """Learn runs side by side: accuracy over the stream, one line per rule, per set of new classes."""
    learn = [d for d in data if d.run.kind == "learn" and d.stepped]
    if not learn:
        return ""
    groups = _by_classes(learn, "new_classes")
    out = "<section><h2>On-device learning: accuracy over the stream, one line per rule</h2>"
    for new, runs in groups.items():
        for metric in ("accuracy_all", "accuracy_new", "accuracy_old"):
            series = {}
            for d in runs:
                pts = sorted((m.step, m.value) for m in d.stepped if m.name == metric)
                if pts:
                    label = f"{(d.run.summary or {}).get('rule', '?')} (run {d.run.id})"
                    series[label] = ([p[0] for p in pts], [100.0 * p[1] for p in pts])
            if series:
                title = f"new keywords: {new} - {metric.replace('_', ' ')}"
                out += _img(plots.step_lines(series, f"{metric} (%)", title), title)
    return out + "</section>"


def _federate_part(data: list[_RunData]) -> str:
    """Federated runs: the global head's accuracy over rounds against the two baselines of the same
    run (each board alone: their mean; one board that saw all the data)."""
    runs = [d for d in data if d.run.kind == "federate" and d.stepped]
    if not runs:
        return ""
    out = "<section><h2>Federated learning: accuracy over rounds against the baselines</h2>"
    for d in runs:
        for metric in ("accuracy_new", "accuracy_all"):
            series = {}
            for name, label in (("federated", "federated"), ("all-data", "one board, all the data"),
                                ("alone", "each board alone (mean)")):
                by_round: dict[int, list[float]] = {}
                for m in d.stepped:
                    if m.name == metric and m.tags.get("series") == name:
                        by_round.setdefault(m.step, []).append(100.0 * m.value)
                if by_round:
                    steps = sorted(by_round)
                    series[label] = (steps, [sum(by_round[k]) / len(by_round[k]) for k in steps])
            if series:
                s = d.run.summary or {}
                title = (f"run {d.run.id}: {s.get('boards', '?')} boards, {s.get('aggregation', '?')}, "
                         f"{s.get('rule', '?')} - {metric.replace('_', ' ')}")
                out += _img(plots.step_lines(series, f"{metric} (%)", title), title)
    return out + "</section>"


FLEET_ITEMS = (("samples", "samples"), ("runs", "runs"), ("models", "models"))  # what a fleet job spread


def _fleet_part(store: ResultsStore, data: list[_RunData]) -> str:
    """Each fleet run's boards side by side: what each did, its counts, bit-exactness, restarts and
    errors (from the boards' own runs); for a profile, each layer's median on every board."""
    out = ""
    for d in data:
        if d.run.kind != "fleet":
            continue
        boards = sorted(store.runs(fleet_id=d.run.id), key=lambda r: r.id)
        s = d.run.summary
        ck = d.run.cycles_kind or s.get("cycles_kind")
        out += (f'<section id="fleet-{d.run.id}"><h2>Fleet run {d.run.id} · {_e(s.get("job", "?"))} · '
                f'{_e(d.run.model_name or "several models")} on {len(boards)} boards {_status(d.run.status)}</h2>')
        rows = []
        for b in boards:
            bs = b.summary
            n = next((bs[k] for k, _ in FLEET_ITEMS if k in bs), None)
            rows.append((f'<a href="#run-{b.id}">{_e(b.instance or b.board or "?")}</a>', _status(b.status),
                         _int(n), "—" if bs.get("mismatches") is None else _int(bs["mismatches"]),
                         _int(bs.get("cycles_median", bs.get("total_cycles"))), _int(bs.get("cycles_min")),
                         _int(bs.get("cycles_max")), _int(bs.get("restarts", 0)),
                         _e((bs.get("errors") or [""])[-1][:120])))
        out += _table(["board", "status", "items", "mismatches", f"median ({_e(CYCLES_SHORT.get(ck or '', '?'))})",
                       "min", "max", "restarts", "last error"], rows, numeric=[2, 3, 4, 5, 6, 7])
        facts = [f"{_int(s.get('items_done'))} of {_int(s.get('items'))} items done"]
        if s.get("cycles_spread") is not None:
            facts.append(f"board medians {_int(s['cycles_board_min'])} .. {_int(s['cycles_board_max'])} "
                         f"({100 * s['cycles_spread']:.2f}% spread, {_e(cycles_label(ck))})")
        if s.get("mismatches") is not None:
            facts.append(f"bit-exact on {_int(s.get('boards_bit_exact'))} of {_int(len(boards))} boards")
        facts.append(f"{_int(s.get('restarts', 0))} restarts, {_int(s.get('boards_dropped', 0))} boards dropped, "
                     f"{_int(s.get('items_failed', 0))} items set aside")
        out += f'<p class="sub">{" · ".join(facts)}</p>'
        layers = {b.instance: store.layers(b.id) for b in boards}
        if any(layers.values()):
            ref = next(v for v in layers.values() if v)
            names = [k for k, v in layers.items() if v]
            out += "<h3>Per layer, board by board</h3>" + _table(
                ["#", "op", *map(_e, names)],
                [[str(l.index), _e(l.op), *(_int(layers[k][i].cycles) if i < len(layers[k]) else "—" for k in names)]
                 for i, l in enumerate(ref)], numeric=range(2, 2 + len(names)))
        out += "</section>"
    return out


def _adapt_part(data: list[_RunData]) -> str:
    """Adapt runs (mcuforge adapt, bench/adapt.py) side by side, one point per method and set of
    task classes: accuracy against the training memory on the board and against the counts per
    training step."""
    runs = [d for d in data if d.run.kind == "adapt" and d.run.status == "ok" and d.scalar("accuracy")]
    if not runs:
        return ""
    groups = _by_classes(runs, "classes")
    out = "<section><h2>Few-shot adaptation: accuracy against memory and counts, one point per method</h2>"
    for classes, group in groups.items():
        for metric, xlabel in (("train_memory_bytes", "training memory on the board (bytes)"),
                               ("cycles_per_step", f"{cycles_label(group[0].run.cycles_kind)} per training step")):
            points = {}
            for d in group:
                x, acc, std = d.scalar(metric), d.scalar("accuracy"), d.scalar("accuracy_std")
                if x is not None and x.value > 0:
                    label = f"{(d.run.summary or {}).get('method', '?')} (run {d.run.id})"
                    points[label] = (x.value, 100.0 * acc.value, 100.0 * (std.value if std else 0.0))
            if points:
                title = f"tasks of {classes}: accuracy vs {xlabel}"
                out += _img(plots.method_points(points, xlabel, title), title)
    return out + "</section>"


SWEEP_PREFIX = "exit_sweep_"  # bench/rnn.py: metrics tagged p_hat
SWEEP_SAVINGS = {"exit_sweep_savings": "vs the same windows without exit (cell steps)",
                 "exit_sweep_savings_vs_lstm": "per bag vs the LSTM (board counts per step)"}


def _sweep_part(d: _RunData) -> str:
    """An early-exit threshold sweep: accuracy and savings against p_hat, as a plot and a table."""
    by: dict[str, dict[float, float]] = defaultdict(dict)
    for m in d.scalars:
        if m.name.startswith(SWEEP_PREFIX) and "p_hat" in m.tags:
            by[m.name][float(m.tags["p_hat"])] = m.value
    acc = by.get(SWEEP_PREFIX + "accuracy")
    if not acc:
        return ""
    p_hats = sorted(acc)
    savings = {label: [by[name].get(p, float("nan")) for p in p_hats]
               for name, label in SWEEP_SAVINGS.items() if by.get(name)}
    title = "Early-exit threshold sweep: accuracy and savings against p_hat"
    out = "<h3>Early-exit sweep</h3>" + _img(plots.exit_sweep(p_hats, [100 * acc[p] for p in p_hats], savings, title),
                                             title)
    head = ["p_hat", "accuracy", "cell steps"] + list(savings)
    rows = [[f"{p:.2f}", f"{100 * acc[p]:.1f}%", f"{by[SWEEP_PREFIX + 'steps'].get(p, float('nan')):.1f}"]
            + [f"{v[i]:.2f}x" for v in savings.values()] for i, p in enumerate(p_hats)]
    return out + _table(head, rows, numeric=range(len(head)))


def _artifacts_part(d: _RunData) -> str:
    if not d.artifacts:
        return ""
    rows = [(_e(a.name), "—" if a.step is None else str(a.step), _int(a.size),
             f'<span class="mono">{_e(a.path)}</span>' if a.path else "stored in the database")
            for a in d.artifacts]
    return "<h3>Artifacts</h3>" + _table(["name", "step", "bytes", "where"], rows, numeric=[1, 2])


PARTS: list[tuple[str, Callable[[_RunData], str]]] = [
    ("metrics", _metrics_part), ("memory", _memory_part), ("accuracy", _accuracy_part),
    ("layers", _layers_part), ("samples", _samples_part), ("steps", _steps_part), ("sweep", _sweep_part),
    ("artifacts", _artifacts_part),
]


def _run_section(d: _RunData) -> str:
    r = d.run
    head = (f'<section id="run-{r.id}"><h2>Run {r.id} · {_e(r.kind)} · {_e(r.model_name or "unnamed model")}'
            f' · {_e(r.board or "no board")} {_status(r.status)}</h2>')
    body = [_identity(r, {m.name for m in d.scalars})]
    if r.summary.get("error"):
        body.append(f'<div class="err">{_e(r.summary["error"])}</div>')
    if r.status in ("failed", "interrupted", "running"):
        body.append('<p class="sub">This run did not finish; below is everything it recorded.</p>')
    shown = []
    for name, part in PARTS:
        try:
            shown.append(part(d))
        except Exception:  # one odd record must not cost the whole report
            shown.append(f'<div class="err">could not render {name}:\n{_e(traceback.format_exc(limit=3))}</div>')
    if not any(shown):
        shown.append('<p class="empty">No measurements recorded.</p>')
    return head + "".join(body + shown) + "</section>"


def _select(store: ResultsStore, runs: Iterable[int | RunRecord] | None, max_runs: int | None) -> list[RunRecord]:
    if runs is None:
        return store.runs(limit=max_runs)
    return [store.get_run(r.id if isinstance(r, RunRecord) else int(r)) for r in runs]


def render_report(store: ResultsStore, runs: Iterable[int | RunRecord] | None = None,
                  title: str = "mcuforge results", max_runs: int | None = DEFAULT_MAX_RUNS) -> str:
    """The report as an HTML string. ``runs``: ids or records to show, in that order; by default
    the newest ``max_runs`` runs (None: all), newest first."""
    data = [_RunData(store, r) for r in _select(store, runs, max_runs)]
    total = store.count_runs()
    kinds = {d.run.cycles_kind for d in data if d.layers or d.samples or any("cycles" in m.name for m in d.metrics)}
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
             f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>",
             f"<h1>{_e(title)}</h1>",
             f'<div class="sub">{len(data)} run(s)' + (f" of {total}" if total != len(data) else "")
             + f' from <span class="mono">{_e(store.path.resolve())}</span> · '
             f"generated {_e(datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC'))} · "
             f"{_e(toolchain_version())}</div>"]
    if "emulated-instructions" in kinds:
        parts.append('<div class="note">Counts marked <b>emulated instructions (QEMU -icount)</b> are '
                     "instructions executed by the emulator, not hardware cycles: they compare runs and "
                     "layers with each other, not with a real board's timing.</div>")
    if "simulated-cycles" in kinds:
        parts.append('<div class="note">Counts marked <b>simulated cycles (simavr)</b> are clock cycles of '
                     "the simulated part (cycle-accurate simavr), not measured on hardware.</div>")
    if not data:
        parts.append('<section><p class="empty">No runs recorded yet. Run <code>mcuforge validate</code>, '
                     "<code>profile</code> or <code>demo</code> to fill the database.</p></section>")
    else:
        parts.append("<section><h2>Runs</h2>" + _summary_table(data) + "</section>")
        parts.append(_learning_part(data))
        parts.append(_fleet_part(store, data))
        parts.append(_federate_part(data))
        parts.append(_adapt_part(data))
        parts.extend(_run_section(d) for d in data)
    parts.append("</main></body></html>")
    return "".join(parts)


def write_report(store: ResultsStore, out_path: str | os.PathLike, runs: Iterable[int | RunRecord] | None = None,
                 title: str = "mcuforge results", max_runs: int | None = DEFAULT_MAX_RUNS) -> Path:
    """Write the self-contained HTML report to ``out_path`` (atomically) and return its path."""
    out = Path(out_path)
    if out.is_dir():
        raise ValueError(f"report path {out} is a directory; give a file name such as {out / 'report.html'}")
    if not out.parent.exists():
        raise ValueError(f"report directory {out.parent} does not exist")
    text = render_report(store, runs, title, max_runs)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=out.parent)
    except OSError as e:
        raise ValueError(f"cannot write the report into {out.parent}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a report is meant to be shared
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
