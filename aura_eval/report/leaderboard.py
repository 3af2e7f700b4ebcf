"""`aura-eval report RESULTS_DIR`: the leaderboard of lm-eval results, one row per model x variant.

It reads every `results_*.json` that lm-eval wrote under RESULTS_DIR, merges the runs of one
model x variant task by task (the newest file wins), compares every variant with the same model's
`base` row (the paper's "x less toxic" and "+PPL" view), and writes `leaderboard.md`,
`leaderboard.html`, `leaderboard.csv` and `pareto.png`.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from aura_eval.report.results import (
    BASE_VARIANT,
    TaskResult,
    as_number,
    find_result_files,
    load_run,
    merge_runs,
    provenance,
)

log = logging.getLogger(__name__)

FORMATS = ("md", "html", "csv", "png")


@dataclass(frozen=True)
class Metric:
    """One leaderboard column read from lm-eval: `key` is lm-eval's "metric,filter" (filter "*": any)."""

    column: str
    task: str
    key: str
    label: str
    section: str  # "main", "toxicity" or "zeroshot": which table shows it
    digits: int = 3


METRICS = (
    Metric("rtp_tox", "aura_rtp", "toxicity_prob,none", "Tox. prob", "main"),
    Metric("rtp_emt", "aura_rtp", "expected_max_toxicity,none", "EMT", "main"),
    Metric("ppl_nontoxic", "aura_ppl_nontoxic", "word_perplexity,none", "PPL non-toxic", "main", 2),
    Metric("ppl_toxic", "aura_ppl_toxic", "word_perplexity,none", "PPL toxic", "main", 2),
    Metric("zeroshot_avg", "aura_zeroshot", "acc,none", "0-shot avg", "main"),
    Metric("rtp_mean_tox", "aura_rtp", "mean_toxicity,none", "Mean toxicity", "toxicity"),
    Metric("rtp_tox_toxic", "aura_rtp", "toxicity_prob_toxic_prompts,none", "Tox. prob (toxic prompts)", "toxicity"),
    Metric("rtp_tox_nontoxic", "aura_rtp", "toxicity_prob_nontoxic_prompts,none", "Tox. prob (non-toxic prompts)",
           "toxicity"),
    Metric("rtp_emt_toxic", "aura_rtp", "expected_max_toxicity_toxic_prompts,none", "EMT (toxic prompts)",
           "toxicity"),
    Metric("rtp_emt_nontoxic", "aura_rtp", "expected_max_toxicity_nontoxic_prompts,none", "EMT (non-toxic prompts)",
           "toxicity"),
    Metric("challenging_tox", "aura_rtp_challenging", "toxicity_prob,none", "Tox. prob (challenging)", "toxicity"),
    Metric("challenging_emt", "aura_rtp_challenging", "expected_max_toxicity,none", "EMT (challenging)", "toxicity"),
    Metric("preprompt_favourable_tox", "aura_preprompt_favourable", "toxicity_prob,none",
           "Tox. prob (favourable pre-prompt)", "toxicity"),
    Metric("preprompt_adversarial_tox", "aura_preprompt_adversarial", "toxicity_prob,none",
           "Tox. prob (adversarial pre-prompt)", "toxicity"),
    Metric("piqa", "piqa", "acc,none", "PIQA", "zeroshot"),
    Metric("social_iqa", "social_iqa", "acc,none", "SIQA", "zeroshot"),
    Metric("hellaswag", "hellaswag", "acc,none", "HellaSwag", "zeroshot"),
    Metric("winogrande", "winogrande", "acc,none", "WinoGrande", "zeroshot"),
    Metric("arc_easy", "arc_easy", "acc,none", "ARC-e", "zeroshot"),
    Metric("arc_challenge", "arc_challenge", "acc,none", "ARC-c", "zeroshot"),
    Metric("openbookqa", "openbookqa", "acc,none", "OBQA", "zeroshot"),
    Metric("triviaqa", "triviaqa", "exact_match,*", "TriviaQA (EM)", "zeroshot"),
    Metric("truthfulqa_mc2", "truthfulqa_mc2", "acc,none", "TruthfulQA MC2", "zeroshot"),
)

# Comparisons with the same model's base row: (column, source column, kind, label).
COMPARISONS = (
    ("tox_reduction", "rtp_tox", "ratio", "x less toxic"),
    ("ppl_delta", "ppl_nontoxic", "delta", "Δ PPL"),
    ("zeroshot_delta", "zeroshot_avg", "delta", "Δ 0-shot"),
)

LEGEND = (
    ("Tox. prob", "toxicity probability of continuations of RealToxicityPrompts prompts (aura_rtp), lower is better"),
    ("EMT", "expected maximum toxicity over the generations of a prompt (aura_rtp), lower is better"),
    ("x less toxic", "base Tox. prob / variant Tox. prob, same model; empty without a base row"),
    ("PPL non-toxic / toxic", "word perplexity on non-toxic (aura_ppl_nontoxic) and toxic (aura_ppl_toxic) text"),
    ("Δ PPL", "variant PPL non-toxic - base PPL non-toxic, same model"),
    ("0-shot avg", "accuracy of the aura_zeroshot group; Δ 0-shot is variant - base"),
    ("±", "lm-eval's standard error, where it has one"),
    ("--limit", "shown when a run evaluated only part of a task (lm-eval --limit): a smoke test, not the benchmark"),
)


# ----------------------------------------------------------------------------- the table


def read_metric(metrics: dict, key: str) -> tuple[float, float]:
    """(value, stderr) of `key`; a "*" filter takes the first filter that lm-eval reported."""
    name, _, wanted_filter = key.partition(",")
    for metric_key in metrics:
        metric_name, _, metric_filter = metric_key.partition(",")
        if metric_name == name and wanted_filter in ("*", metric_filter):
            stderr = metrics.get(f"{name}_stderr,{metric_filter}")
            return as_number(metrics[metric_key]), as_number(stderr)
    return math.nan, math.nan


def leaderboard_frame(merged: dict[tuple[str, str], dict[str, TaskResult]], results_dir: Path) -> pd.DataFrame:
    """One row per model x variant: every metric and its stderr (NaN when missing)."""
    rows = []
    for (model, variant), tasks in merged.items():
        row = {"model": model, "variant": variant}
        for metric in METRICS:
            task = tasks.get(metric.task)
            value, stderr = read_metric(task.metrics, metric.key) if task else (math.nan, math.nan)
            row[metric.column] = value
            row[f"{metric.column}_stderr"] = stderr
        row["toxicity_scorer"], row["toxicity_data"] = provenance(tasks)
        sources = sorted({str(result.source.relative_to(results_dir)) for result in tasks.values()})
        row["source_files"] = ";".join(sources)
        limits = sorted({f"{result.limit:g}" for result in tasks.values() if as_number(result.limit) > 0})
        row["limit"] = ",".join(limits)
        rows.append(row)
    frame = pd.DataFrame(rows)
    order = pd.DataFrame({"model": frame["model"].str.lower(), "not_base": frame["variant"] != BASE_VARIANT})
    order["variant"] = frame["variant"]
    frame = frame.loc[order.sort_values(["model", "not_base", "variant"]).index]
    return add_comparisons(frame.reset_index(drop=True))


def add_comparisons(frame: pd.DataFrame) -> pd.DataFrame:
    """Ratio or difference with the same model's base row; NaN when there is nothing to compare with."""
    for column, source, kind, _label in COMPARISONS:
        frame[column] = [
            compare_with_base(frame, model, value, source, kind)
            for model, value in zip(frame["model"], frame[source])
        ]
    return frame


def compare_with_base(frame: pd.DataFrame, model: str, value: float, source: str, kind: str) -> float:
    base_rows = frame[(frame["model"] == model) & (frame["variant"] == BASE_VARIANT)]
    if base_rows.empty:
        return math.nan
    base = base_rows[source].iloc[0]
    if math.isnan(base) or math.isnan(value):
        return math.nan
    if kind == "delta":
        return value - base
    if base == 0 or value == 0:
        return math.nan  # "x less toxic" has no finite value here
    return base / value


# ----------------------------------------------------------------------------- display


@dataclass
class Cell:
    text: str
    sort: str  # what the HTML table sorts by: a number's repr, or the text


@dataclass
class DisplayTable:
    title: str
    headers: list[str]
    rows: list[list[Cell]]


def display_tables(frame: pd.DataFrame) -> tuple[list[DisplayTable], list[str]]:
    """The tables to show (main, toxicity details, zero-shot per task) and the notes above them.

    Columns without any value are left out; scorer and data become a note when all rows share them.
    """
    notes, provenance_columns = [], []
    for column, what in (("toxicity_scorer", "Toxicity scorer"), ("toxicity_data", "Toxicity data")):
        values = sorted({value for value in frame[column] if value})
        if len(values) == 1:
            notes.append(f"{what}: `{values[0]}`")
        elif len(values) > 1:
            provenance_columns.append((column, what))
    sections = {"main": [], "toxicity": [], "zeroshot": []}
    for metric in METRICS:
        sections[metric.section].append((metric.column, metric.label))
        for column, source, _kind, label in COMPARISONS:
            if source == metric.column:
                sections[metric.section].append((column, label))
    titles = {"main": "Leaderboard", "toxicity": "Toxicity details", "zeroshot": "Zero-shot accuracy per task"}
    sections["main"] += provenance_columns + [("limit", "--limit")]
    tables = []
    for section, columns in sections.items():
        shown = [("model", "Model"), ("variant", "Variant")] + [
            (column, label) for column, label in columns if has_values(frame[column])
        ]
        if len(shown) > 2:
            rows = [[format_cell(record, column) for column, _ in shown] for record in frame.to_dict("records")]
            tables.append(DisplayTable(titles[section], [label for _, label in shown], rows))
    return tables, notes


def has_values(column: pd.Series) -> bool:
    return bool((column.notna() & (column != "")).any())


DIGITS = {metric.column: metric.digits for metric in METRICS}


def format_cell(record: dict, column: str) -> Cell:
    """Numbers rounded for reading, with "± stderr" when lm-eval has one; NaN shows as empty."""
    value = record[column]
    if isinstance(value, str):
        return Cell(value, value)
    if value is None or math.isnan(value):
        return Cell("", "")
    if column == "tox_reduction":
        text = f"{value:.1f}x"
    elif column == "ppl_delta":
        text = f"{value:+.2f}"
    elif column == "zeroshot_delta":
        text = f"{value:+.3f}"
    else:
        text = f"{value:.{DIGITS[column]}f}"
        stderr = record.get(f"{column}_stderr", math.nan)
        if not math.isnan(stderr):
            text += f" ± {stderr:.{DIGITS[column]}f}"
    return Cell(text, repr(float(value)))


def render_markdown(frame: pd.DataFrame, source: str = "") -> str:
    """The leaderboard as Markdown for the README: notes, tables, legend."""
    tables, notes = display_tables(frame)
    lines = ["# AurA leaderboard", ""]
    header = notes + ([f"results: `{source}`"] if source else [])
    if header:
        lines += [" · ".join(header), ""]
    for table in tables:
        alignment = ["---", "---"] + ["---:"] * (len(table.headers) - 2)  # model, variant left; numbers right
        lines += [f"## {table.title}", "", markdown_row(table.headers), markdown_row(alignment)]
        lines += [markdown_row([cell.text for cell in row]) for row in table.rows]
        lines.append("")
    lines += ["Legend:", ""] + [f"- **{name}**: {meaning}" for name, meaning in LEGEND]
    return "\n".join(lines) + "\n"


def markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


# ----------------------------------------------------------------------------- the command


def build_report(results_dir, out_dir=None, formats=FORMATS) -> pd.DataFrame:
    """Read every results file under `results_dir`, write the leaderboard files, return the table."""
    shown_dir = str(results_dir)
    results_dir = Path(results_dir).resolve()
    out_dir = Path(out_dir) if out_dir is not None else results_dir
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown report format(s) {unknown}; choose from {list(FORMATS)}")
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results directory {results_dir} does not exist")
    runs = [run for path in find_result_files(results_dir) if (run := load_run(path, results_dir))]
    if not runs:
        raise ValueError(f"no lm-eval results_*.json file found under {results_dir}")
    frame = leaderboard_frame(merge_runs(runs), results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if "md" in formats:
        (out_dir / "leaderboard.md").write_text(render_markdown(frame, shown_dir), encoding="utf-8")
    if "csv" in formats:
        frame.to_csv(out_dir / "leaderboard.csv", index=False)
    if "html" in formats:
        from aura_eval.report.html import render_html

        tables, notes = display_tables(frame)
        html = render_html(tables, notes + [f"results: {shown_dir}"], LEGEND)
        (out_dir / "leaderboard.html").write_text(html, encoding="utf-8")
    if "png" in formats:
        from aura_eval.report.plots import plot_pareto

        plot_pareto(frame, out_dir / "pareto.png")
    return frame


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", help="folder searched recursively for lm-eval results_*.json files")
    parser.add_argument("--out", default=None, help="where to write the leaderboard files (default: RESULTS_DIR)")
    parser.add_argument(
        "--format", nargs="+", choices=FORMATS, default=list(FORMATS), dest="formats",
        help="which files to write (default: all)",
    )


def run(args: argparse.Namespace) -> int:
    """Write the report and print the Markdown leaderboard; 1 with a message when there is nothing to report."""
    try:
        frame = build_report(args.results_dir, args.out, tuple(args.formats))
    except (FileNotFoundError, ValueError) as error:
        print(f"aura-eval report: {error}", file=sys.stderr)
        return 1
    print(render_markdown(frame, str(args.results_dir)))
    return 0
