"""The leaderboard table: one row per experiment x model x variant, every catalog metric and its stderr,
the paired statistics against the base row of the same experiment and model (paired.py), the
pre-prompt ratios (preprompts.py), and the paper's "x less toxic" / "+PPL" comparisons with that base row."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from aura_eval.core.names import SCORER_KEY, ZEROSHOT_GROUP, ZEROSHOT_SKIPPED_KEY
from aura_eval.report import stats
from aura_eval.report.catalog import COMPARISONS, METRICS, TEXT_COLUMNS, numeric_columns
from aura_eval.report.paired import PairedSettings, model_statistics
from aura_eval.report.preprompts import preprompt_columns
from aura_eval.report.provenance import provenance
from aura_eval.report.results import BASE_VARIANT, Row, TaskResult, as_number
from aura_eval.report.samples import SampleCache


def read_metric(metrics: dict, key: str) -> tuple[float, float]:
    """(value, stderr) of `key`; a "*" filter takes the first filter that lm-eval reported."""
    name, _, wanted_filter = key.partition(",")
    for metric_key in metrics:
        metric_name, _, metric_filter = metric_key.partition(",")
        if metric_name == name and wanted_filter in ("*", metric_filter):
            stderr = metrics.get(f"{name}_stderr,{metric_filter}")
            return as_number(metrics[metric_key]), as_number(stderr)
    return math.nan, math.nan


def leaderboard_frame(merged: dict[Row, dict[str, TaskResult]], results_dir: Path,
                      settings: PairedSettings | None = None, cache: SampleCache | None = None) -> pd.DataFrame:
    """One row per experiment x model x variant: every metric and its stderr (NaN when missing), then the
    paired statistics against the base row of the same experiment and model."""
    settings = settings or PairedSettings()
    rows = []
    for key, tasks in merged.items():
        row = {"experiment": key.experiment, "model": key.model, "variant": key.variant, "row": key.name}
        for metric in METRICS:
            task = tasks.get(metric.task)
            value, stderr = read_metric(task.metrics, metric.key) if task else (math.nan, math.nan)
            row[metric.column] = value
            row[f"{metric.column}_stderr"] = stderr
        row[SCORER_KEY], row["toxicity_data"] = provenance(tasks)
        sources = sorted({str(result.source.relative_to(results_dir)) for result in tasks.values()})
        row["source_files"] = ";".join(sources)
        limits = sorted({f"{result.limit:g}" for result in tasks.values() if as_number(result.limit) > 0})
        row["limit"] = ",".join(limits)
        row["zeroshot_skipped"] = zeroshot_skipped(tasks)
        rows.append(row)
    cache = cache or SampleCache()
    add_paired(rows, merged, settings, cache)
    preprompted = preprompt_columns(merged, settings, cache)  # the Pre-prompts section's ratios
    for row in rows:
        row.update(preprompted[Row(row["experiment"], row["model"], row["variant"])])
    frame = pd.DataFrame(rows)
    order = pd.DataFrame({"experiment": frame["experiment"], "model": frame["model"].str.lower(),
                          "not_base": frame["variant"] != BASE_VARIANT, "variant": frame["variant"]})
    frame = frame.loc[order.sort_values(["experiment", "model", "not_base", "variant"]).index]
    frame = add_comparisons(frame.reset_index(drop=True))
    frame.attrs["paired"] = settings
    return frame


def add_paired(rows: list[dict], merged: dict[Row, dict[str, TaskResult]], settings: PairedSettings,
               cache: SampleCache) -> None:
    """Each row's paired-statistics columns, computed per experiment x model (its rows share resamples)."""
    by_model: dict[tuple[str, str], dict[str, dict[str, TaskResult]]] = {}
    for key, tasks in merged.items():
        by_model.setdefault((key.experiment, key.model), {})[key.variant] = tasks
    columns = {group: model_statistics(variants, settings, cache) for group, variants in by_model.items()}
    for row in rows:
        found = columns[row["experiment"], row["model"]][row["variant"]]
        row.update({column: found.get(column, math.nan) for column in numeric_columns()})
        row.update({column: found.get(column, "") for column in TEXT_COLUMNS})


def zeroshot_skipped(tasks: dict[str, TaskResult]) -> str:
    """The zero-shot member tasks the aura_zeroshot group says it skipped (see ZEROSHOT_SKIPPED_KEY)."""
    group = tasks.get(ZEROSHOT_GROUP)
    skipped = group.metrics.get(ZEROSHOT_SKIPPED_KEY) if group is not None else None
    if isinstance(skipped, str):
        return skipped
    if isinstance(skipped, (list, tuple)):
        return ", ".join(str(task) for task in skipped)
    return ""


def add_comparisons(frame: pd.DataFrame) -> pd.DataFrame:
    """Ratio or difference with the base row of the same experiment and model; NaN without one."""
    for column, source, kind, _label in COMPARISONS:
        frame[column] = [
            compare_with_base(frame, experiment, model, value, source, kind)
            for experiment, model, value in zip(frame["experiment"], frame["model"], frame[source])
        ]
    # "x less toxic" over the prompts both rows ran: a row that ran a subset of the base's is not set against
    # the base's value over all of them (identical to the plain ratio when both ran the same prompts)
    paired = frame.get("tox_reduction_paired")
    if paired is not None:
        frame["tox_reduction"] = paired.where(paired.notna(), frame["tox_reduction"])
    return frame


def compare_with_base(frame: pd.DataFrame, experiment: str, model: str, value: float, source: str,
                      kind: str) -> float:
    base_rows = frame[(frame["experiment"] == experiment) & (frame["model"] == model)
                      & (frame["variant"] == BASE_VARIANT)]
    if base_rows.empty:
        return math.nan
    return compared(base_rows[source].iloc[0], value, kind)


def compared(base: float, value: float, kind: str) -> float:
    """value - base, or base / value ("x less toxic": infinite when only the value is 0, 1 when both are)."""
    if math.isnan(base) or math.isnan(value):
        return math.nan
    if kind == "delta":
        return value - base
    return float(stats.toxicity_ratio(base, value))

