"""Matplotlib figures for the HTML report, returned as PNG bytes.

Uses the object-oriented API with the Agg canvas directly (no pyplot), so importing this never
changes the process-wide backend and works without a display.
"""
from __future__ import annotations

import io
from typing import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

BLUE = "#3b6ea8"
ORANGE = "#d9822b"
GREY = "#9aa3ad"
RED = "#c23b3b"
PALETTE = ["#3b6ea8", "#d9822b", "#4c9a5f", "#a8483b", "#7b5ea8", "#8c7a3b", "#3b9aa8", "#a83b7b"]
WIDTH_IN = 8.0
DPI = 110
MAX_BARS = 120  # beyond this a bar chart is unreadable; the table still lists every row


def _figure(height_in: float) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, max(1.6, height_in)), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _style(ax, grid_axis: str = "x") -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis=grid_axis, color="#dde2e8", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=8.5)


def _counts(axis) -> None:
    """Plain integers with thousands separators: counts read as counts, not as 9.47e5."""
    axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def _kib(n: float) -> str:
    return f"{n / 1024:,.1f} KiB" if n >= 1024 else f"{n:,.0f} B"


def layer_cycles(labels: Sequence[str], cycles: Sequence[int], shares: Sequence[float | None],
                 cycles_label: str, title: str) -> bytes:
    """Horizontal bars, one per layer in execution order, annotated with the share of the total."""
    labels, cycles, shares = list(labels)[:MAX_BARS], list(cycles)[:MAX_BARS], list(shares)[:MAX_BARS]
    fig = _figure(0.26 * len(labels) + 1.0)
    ax = fig.add_subplot()
    y = range(len(labels))
    ax.barh(y, cycles, color=BLUE, height=0.7)
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()  # first layer on top
    ax.set_xlabel(cycles_label)
    ax.set_title(title, fontsize=10, loc="left")
    top = max(cycles) if cycles else 1
    for i, (c, s) in enumerate(zip(cycles, shares)):
        if s is not None:
            ax.text(c + top * 0.01, i, f"{s * 100:.1f}%", va="center", fontsize=7.5, color="#444")
    ax.set_xlim(0, top * 1.12)
    _counts(ax.xaxis)
    _style(ax)
    return _png(fig)


def memory_bars(labels: Sequence[str], values: Sequence[float], reference: Sequence[bool]) -> bytes:
    """Bytes per memory figure; reference (TFLM) bars grey so the comparison reads at a glance."""
    fig = _figure(0.42 * len(labels) + 0.9)
    ax = fig.add_subplot()
    y = range(len(labels))
    ax.barh(y, [v / 1024 for v in values], color=[GREY if r else BLUE for r in reference], height=0.6)
    ax.set_yticks(list(y), labels, fontsize=8.5)
    ax.invert_yaxis()
    ax.set_xlabel("KiB")
    ax.set_title("Memory", fontsize=10, loc="left")
    top = max(values) / 1024 if values else 1
    for i, v in enumerate(values):
        ax.text(v / 1024 + top * 0.01, i, _kib(v), va="center", fontsize=8, color="#444")
    ax.set_xlim(0, top * 1.22 if top > 0 else 1)
    _style(ax)
    return _png(fig)


def accuracy_bars(labels: Sequence[str], percents: Sequence[float]) -> bytes:
    fig = _figure(0.42 * len(labels) + 0.9)
    ax = fig.add_subplot()
    y = range(len(labels))
    ax.barh(y, percents, color=[PALETTE[i % len(PALETTE)] for i in range(len(labels))], height=0.6)
    ax.set_yticks(list(y), labels, fontsize=8.5)
    ax.invert_yaxis()
    ax.set_xlim(0, 109)
    ax.set_xlabel("accuracy (%)")
    ax.set_title("Accuracy", fontsize=10, loc="left")
    for i, p in enumerate(percents):
        ax.text(p + 0.8, i, f"{p:.2f}%", va="center", fontsize=8, color="#444")
    _style(ax)
    return _png(fig)


def method_points(points: dict[str, tuple[float, float, float]], xlabel: str, title: str, log_x: bool = True) -> bytes:
    """One point per method (label -> (x, accuracy %, its spread)), e.g. accuracy against memory."""
    fig = _figure(3.2)
    ax = fig.add_subplot()
    for i, (label, (x, y, err)) in enumerate(points.items()):
        ax.errorbar([x], [y], yerr=[err], fmt="o", color=PALETTE[i % len(PALETTE)], capsize=3, label=label)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8, color="#444")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=10, loc="left")
    _style(ax, "both")
    return _png(fig)


def step_lines(series: dict[str, tuple[Sequence[int], Sequence[float]]], ylabel: str, title: str) -> bytes:
    """One line per series (e.g. per learning rule) of a metric against its step."""
    fig = _figure(3.2)
    ax = fig.add_subplot()
    for i, (label, (steps, values)) in enumerate(series.items()):
        ax.plot(steps, values, label=label, color=PALETTE[i % len(PALETTE)], linewidth=1.6,
                marker="o" if len(steps) <= 40 else None, markersize=3.5)
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    steps_all = [x for steps, _ in series.values() for x in steps]
    if steps_all and max(steps_all) - min(steps_all) < 4:
        ax.set_xlim(min(steps_all) - 1, max(steps_all) + 1)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10, loc="left")
    if len(series) > 1 or any(label for label in series):
        ax.legend(fontsize=8, frameon=False)
    _style(ax, "both")
    return _png(fig)


def exit_sweep(p_hats: Sequence[float], accuracy_pct: Sequence[float],
               savings: dict[str, Sequence[float]], title: str) -> bytes:
    """An early-exit threshold sweep: accuracy (left axis) and one or more savings curves (right
    axis, x) against the threshold p_hat."""
    fig = _figure(3.2)
    ax = fig.add_subplot()
    ax.plot(p_hats, accuracy_pct, color=BLUE, marker="o", markersize=3.5, linewidth=1.6, label="accuracy")
    ax.set_xlabel("early-exit threshold p_hat")
    ax.set_ylabel("accuracy (%)", color=BLUE)
    ax.set_title(title, fontsize=10, loc="left")
    _style(ax, "both")
    right = ax.twinx()
    for i, (label, values) in enumerate(savings.items()):
        right.plot(p_hats, values, color=PALETTE[(i + 1) % len(PALETTE)], marker="s", markersize=3.5,
                   linewidth=1.4, linestyle="--", label=label)
    right.set_ylabel("savings (x)")
    right.tick_params(labelsize=8.5)
    right.spines["top"].set_visible(False)
    lines = ax.get_lines() + right.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8, frameon=False, loc="upper center",
              bbox_to_anchor=(0.5, -0.2), ncol=len(lines))  # below the axes: never over a curve
    return _png(fig)


def sample_panels(indices: Sequence[int], cycles: Sequence[int | None], diffs: Sequence[float | None],
                  cycles_label: str) -> bytes:
    """Cycles per validation sample, and max |diff| per sample when any output differed."""
    have_cycles = any(c is not None for c in cycles)
    have_diffs = any(d for d in diffs if d is not None)
    panels = int(have_cycles) + int(have_diffs)
    fig = _figure(2.4 * max(1, panels) + 0.4)
    n = 1
    if have_cycles:
        ax = fig.add_subplot(panels, 1, n)
        n += 1
        pts = [(i, c) for i, c in zip(indices, cycles) if c is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=BLUE, linewidth=1.0,
                marker="o" if len(pts) <= 60 else None, markersize=3)
        ax.set_ylabel(cycles_label, fontsize=8)
        lo, hi = min(p[1] for p in pts), max(p[1] for p in pts)
        ax.set_title(f"Per sample: {cycles_label}  (min {lo:,}, max {hi:,})", fontsize=10, loc="left")
        ax.set_ylim(0, hi * 1.08 if hi > 0 else 1)  # from zero: run-to-run jitter must not look large
        _counts(ax.yaxis)
        _style(ax, "y")
    if have_diffs:
        ax = fig.add_subplot(panels, 1, n)
        pts = [(i, d) for i, d in zip(indices, diffs) if d is not None]
        ax.bar([p[0] for p in pts], [p[1] for p in pts], color=RED, width=0.8)
        ax.set_ylabel("max |board - reference|", fontsize=8)
        ax.set_title("Per sample: largest output difference", fontsize=10, loc="left")
        _style(ax, "y")
    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if indices and max(indices) - min(indices) < 4:  # a handful of samples: keep whole-number ticks
            ax.set_xlim(min(indices) - 1, max(indices) + 1)
    if panels:
        fig.axes[-1].set_xlabel("sample")
    fig.tight_layout()
    return _png(fig)


def confusion(matrix: Sequence[Sequence[int]], names: Sequence[str]) -> bytes:
    k = len(names)
    fig = Figure(figsize=(min(8.0, 1.2 + 0.45 * k), min(8.0, 1.0 + 0.45 * k)), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    im = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize=7.5)
    ax.set_yticks(range(k), names, fontsize=7.5)
    ax.set_xlabel("predicted on board")
    ax.set_ylabel("expected")
    ax.set_title("Confusion (board)", fontsize=10, loc="left")
    top = max((max(r) for r in matrix), default=0) or 1
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if matrix[i][j]:
                    ax.text(j, i, str(matrix[i][j]), ha="center", va="center", fontsize=7,
                            color="white" if matrix[i][j] > top * 0.6 else "#222")
    fig.colorbar(im, ax=ax, shrink=0.7)
    return _png(fig)
