"""The paper's trade-off view (its Figures 2 and 5): toxicity against non-toxic perplexity.

One panel per model (per experiment and model when the report has several experiments), since
perplexities of different models do not share a scale; one labelled
marker per variant, the unmodified `base` model drawn as a large star. Each method's variants are joined
as a curve in the order of their strength, k or alpha (sweeps.py), and the non-dominated points of a
panel (no other point is as good on both axes) are ringed in red. Where the report has per-sample
logs, each marker gets error bars: the row's own 95% bootstrap interval of its toxicity (prompts
resampled) and of its perplexity (documents resampled); the paired intervals of the differences are
in the tables, not in the plot.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import matplotlib
import pandas as pd

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402

from aura_eval.core.text import printable  # noqa: E402
from aura_eval.report.results import BASE_VARIANT  # noqa: E402
from aura_eval.report.sweeps import curves, non_dominated, points_of  # noqa: E402

log = logging.getLogger(__name__)


def plot_pareto(frame, path: Path, x: str = "ppl_nontoxic", y: str = "rtp_tox") -> list[str]:
    """Write the plot to `path`; return the "model/variant" rows it left out for lack of a value.

    Writes nothing (and warns) when no row has both values.
    """
    plotted = frame[frame[x].notna() & frame[y].notna()]
    skipped = [printable(row_name(row)) for row in frame.itertuples() if row.Index not in plotted.index]
    if skipped:
        log.warning("pareto plot: no toxicity or non-toxic PPL for %s, left out", ", ".join(skipped))
    if plotted.empty:
        log.warning("pareto plot: no row has both %s and %s; %s not written", y, x, printable(path))
        return skipped
    panel = panel_names(frame)
    models = list(dict.fromkeys(panel[plotted.index]))
    columns = min(len(models), 3)
    rows = math.ceil(len(models) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4 * rows), squeeze=False)
    for axis, model in zip(axes.flat, models):
        draw_model(axis, plotted[panel[plotted.index] == model], x, y)
        has_base = (frame[panel == model]["variant"] == BASE_VARIANT).any()
        axis.set_title(printable(model if has_base else f"{model} (no base row)"))
    for axis in list(axes.flat)[len(models):]:
        axis.set_visible(False)
    if skipped:
        figure.text(0.01, 0.01, "not shown (missing value): " + ", ".join(skipped), fontsize=8, color="gray")
    if has_error_bars(plotted, x, y):
        figure.text(0.99, 0.01, "error bars: each row's own 95% bootstrap interval (not paired)", fontsize=8,
                    color="gray", ha="right")
    figure.suptitle("Toxicity vs. perplexity (lower-left is better)")
    figure.tight_layout(rect=(0, 0.04 if skipped or has_error_bars(plotted, x, y) else 0, 1, 1))
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return skipped


def method_of(variant: str) -> str:
    points = points_of([{"variant": variant, "x": 0.0, "y": 0.0}])
    return points[0].method if points else ""


def row_name(row) -> str:
    experiment = getattr(row, "experiment", "")
    return "/".join(part for part in (experiment, row.model, row.variant) if part)


def panel_names(frame) -> pd.Series:
    """What each row's panel is titled: [experiment/]model (a variant is compared within its experiment)."""
    experiments = frame["experiment"] if "experiment" in frame else [""] * len(frame)
    names = [f"{experiment}/{model}" if experiment else model for experiment, model in zip(experiments, frame["model"])]
    return pd.Series(names, index=frame.index, dtype=object)


def error_bar(row, column: str) -> list[list[float]] | None:
    """[[below], [above]] the value for matplotlib, from the row's `<column>_ci_low/high`; None without one."""
    value = row.get(column, math.nan)
    low, high = row.get(f"{column}_ci_low", math.nan), row.get(f"{column}_ci_high", math.nan)
    if any(math.isnan(v) or math.isinf(v) for v in (value, low, high)):
        return None
    return [[max(value - low, 0.0)], [max(high - value, 0.0)]]


def has_error_bars(rows, x: str, y: str) -> bool:
    return any(error_bar(row, x) or error_bar(row, y) for _, row in rows.iterrows())


METHOD_COLOURS = {"aura": "tab:blue", "damp": "tab:orange", "det_zero": "tab:green"}


def draw_sweeps(axis, rows, x: str, y: str) -> None:
    """Each method's curve (a line through its variants in dose order) and a ring on the non-dominated points."""
    points = points_of({"variant": row.variant, "x": getattr(row, x), "y": getattr(row, y)} for row in rows.itertuples())
    drawn_methods = set()
    for curve in curves(points):
        if len(curve.points) < 2:
            continue
        label = None if curve.method in drawn_methods else f"{curve.method} ({curve.parameter})"
        drawn_methods.add(curve.method)
        axis.plot([point.x for point in curve.points], [point.y for point in curve.points], "-",
                  color=METHOD_COLOURS.get(curve.method, "tab:gray"), alpha=0.6, zorder=1, label=label)
    values = [(float(getattr(row, x)), float(getattr(row, y))) for row in rows.itertuples()]
    front = [value for value, keep in zip(values, non_dominated(values)) if keep]
    axis.scatter([value[0] for value in front], [value[1] for value in front], s=340, facecolors="none",
                 edgecolors="tab:red", linewidths=1.5, zorder=4, label="non-dominated")
    axis.legend(fontsize=7, loc="best")


def draw_model(axis, rows, x: str, y: str) -> None:
    draw_sweeps(axis, rows, x, y)
    for _, record in rows.iterrows():
        xerr, yerr = error_bar(record, x), error_bar(record, y)
        if xerr or yerr:
            axis.errorbar(record[x], record[y], xerr=xerr, yerr=yerr, fmt="none", ecolor="gray", elinewidth=1,
                          capsize=3, zorder=2)
    for row in rows.itertuples():
        is_base = row.variant == BASE_VARIANT
        axis.scatter(
            getattr(row, x), getattr(row, y),
            marker="*" if is_base else "o", s=220 if is_base else 60,
            color="black" if is_base else METHOD_COLOURS.get(method_of(row.variant), "tab:gray"), zorder=3,
        )
        axis.annotate(
            printable(row.variant), (getattr(row, x), getattr(row, y)), textcoords="offset points", xytext=(6, 4),
            fontsize=9, fontweight="bold" if is_base else "normal",
        )
    axis.set_xlabel("perplexity on non-toxic text")
    axis.set_ylabel("toxicity probability")
    axis.grid(True, alpha=0.3)
    axis.margins(0.2)
