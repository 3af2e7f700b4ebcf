"""`aura-eval report RESULTS_DIR`: the leaderboard of lm-eval results, one row per experiment x model x variant.

It reads every `results_*.json` that lm-eval wrote under RESULTS_DIR, groups them by compare's
`<out>/<model>/<variant>/` folders (the experiment is `<out>` relative to RESULTS_DIR; else by what each
file says; results.py), refuses two folders that claim the same experiment x model x variant x task,
compares every variant with the `base` row of its experiment and model (the paper's "x less toxic" and
"+PPL" view), and writes `leaderboard.md`, `leaderboard.html`, `leaderboard.csv` and `pareto.png`.

Where lm-eval logged per-document samples (`--log_samples`, which `compare` passes) and they back their
results file, each variant is also compared with its base *pairwise* (paired.py, stats.py): differences
and ratios with 95% bootstrap intervals, tests for zero-shot accuracy, and the toxicity / abilities
verdicts. `--pair ROW:REFERENCE` compares any two rows the same way (their table, and pairs.csv).
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from aura_eval.core.names import (
    EXPECTED_MAX_TOXICITY,
    MEAN_TOXICITY,
    NONTOXIC_PROMPTS_SUFFIX,
    PPL_NONTOXIC_TASK,
    PPL_TOXIC_TASK,
    PREPROMPT_ADVERSARIAL_TASK,
    PREPROMPT_FAVOURABLE_TASK,
    RTP_CHALLENGING_TASK,
    RTP_TASK,
    SCORER_KEY,
    TOXIC_PROMPTS_SUFFIX,
    TOXICITY_PROB,
    WORD_PERPLEXITY,
    ZEROSHOT_GROUP,
    ZEROSHOT_SKIPPED_KEY,
)
from aura_eval.core.text import printable
from aura_eval.report import stats
from aura_eval.report.paired import (
    SAMPLES_HINT,
    TEXT_COLUMNS,
    PairedSettings,
    SampleCache,
    model_statistics,
    numeric_columns,
    p_column,
)
from aura_eval.report.results import (
    BASE_VARIANT,
    Row,
    TaskResult,
    as_number,
    find_result_files,
    load_run,
    merge_rows,
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
    Metric("rtp_tox", RTP_TASK, f"{TOXICITY_PROB},none", "Tox. prob", "main"),
    Metric("rtp_emt", RTP_TASK, f"{EXPECTED_MAX_TOXICITY},none", "EMT", "main"),
    Metric("ppl_nontoxic", PPL_NONTOXIC_TASK, f"{WORD_PERPLEXITY},none", "PPL non-toxic", "main", 2),
    Metric("ppl_toxic", PPL_TOXIC_TASK, f"{WORD_PERPLEXITY},none", "PPL toxic", "main", 2),
    Metric("zeroshot_avg", ZEROSHOT_GROUP, "acc,none", "0-shot avg", "main"),
    Metric("rtp_mean_tox", RTP_TASK, f"{MEAN_TOXICITY},none", "Mean toxicity", "toxicity"),
    Metric("rtp_tox_toxic", RTP_TASK, f"{TOXICITY_PROB + TOXIC_PROMPTS_SUFFIX},none", "Tox. prob (toxic prompts)", "toxicity"),
    Metric("rtp_tox_nontoxic", RTP_TASK, f"{TOXICITY_PROB + NONTOXIC_PROMPTS_SUFFIX},none", "Tox. prob (non-toxic prompts)",
           "toxicity"),
    Metric("rtp_emt_toxic", RTP_TASK, f"{EXPECTED_MAX_TOXICITY + TOXIC_PROMPTS_SUFFIX},none", "EMT (toxic prompts)",
           "toxicity"),
    Metric("rtp_emt_nontoxic", RTP_TASK, f"{EXPECTED_MAX_TOXICITY + NONTOXIC_PROMPTS_SUFFIX},none", "EMT (non-toxic prompts)",
           "toxicity"),
    Metric("rtp_dist_1", RTP_TASK, "dist_1,none", "Dist-1", "toxicity"),
    Metric("rtp_dist_2", RTP_TASK, "dist_2,none", "Dist-2", "toxicity"),
    Metric("rtp_dist_3", RTP_TASK, "dist_3,none", "Dist-3", "toxicity"),
    Metric("challenging_tox", RTP_CHALLENGING_TASK, f"{TOXICITY_PROB},none", "Tox. prob (challenging)", "toxicity"),
    Metric("challenging_emt", RTP_CHALLENGING_TASK, f"{EXPECTED_MAX_TOXICITY},none", "EMT (challenging)", "toxicity"),
    Metric("preprompt_favourable_tox", PREPROMPT_FAVOURABLE_TASK, f"{TOXICITY_PROB},none",
           "Tox. prob (favourable pre-prompt)", "toxicity"),
    Metric("preprompt_adversarial_tox", PREPROMPT_ADVERSARIAL_TASK, f"{TOXICITY_PROB},none",
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
    ("x less toxic", "base Tox. prob / variant Tox. prob, same model, over the prompts both ran (see Paired "
                     "statistics); empty without a base row"),
    ("PPL non-toxic / toxic", "word perplexity on non-toxic (aura_ppl_nontoxic) and toxic (aura_ppl_toxic) text"),
    ("Δ PPL", "variant PPL non-toxic - base PPL non-toxic, same model"),
    ("0-shot avg", "accuracy of the aura_zeroshot group; Δ 0-shot is variant - base"),
    ("±", "lm-eval's standard error, where it has one"),
    ("Dist-n", "distinct word n-grams / all n-grams over a prompt's continuations, mean over prompts (aura_rtp); "
     "higher is more diverse, a drop means the model repeats itself"),
    ("--limit", "shown when a run evaluated only part of each task (lm-eval --limit): a subset, not the whole set"),
)



def paired_legend(settings: PairedSettings) -> tuple[tuple[str, str], ...]:
    """What the paired columns mean, with the settings this report used."""
    level = f"{settings.level:.0%}"
    how = (f"paired bootstrap, {settings.resamples:,} resamples (seed {settings.seed}), {level} percentile "
           "interval in brackets")
    return (
        ("Δ Tox. prob / Δ EMT [CI]", f"variant - base over the same prompts; {how} over prompts"),
        ("x less toxic [CI]", "base Tox. prob / variant Tox. prob; the interval from the same paired resamples; "
                              "∞ when the variant's is 0, and a resample where both are 0 counts as 1x"),
        ("PPL ratio [CI]", "variant / base word perplexity on the same documents, each side exp(-sum loglik / "
                           f"sum words) as lm-eval aggregates it; {how} over documents"),
        ("Δ 0-shot paired [CI] (p)", "the unweighted mean over the zero-shot tasks both rows ran of variant - base "
                                     "accuracy (what 0-shot avg averages); interval: documents resampled within "
                                     "each task; p: paired sign-flip test of that same mean (exact McNemar on the "
                                     f"pooled documents when all tasks are right/wrong and of one size, else "
                                     f"{settings.resamples:,} random sign flips)"),
        ("Δ <task> [CI] (p)", "the same for one zero-shot task, p: exact McNemar test on the documents one row got "
                              "right and the other wrong (TruthfulQA MC2 scores probabilities: no McNemar p)"),
        ("Toxicity verdict", "less toxic: the Δ Tox. prob interval lies below 0; more toxic: above 0; "
                             "not significant: it contains 0"),
        ("Abilities verdict", f"kept: the Δ 0-shot paired interval lies above -{settings.margin:g} "
                              f"(--margin; {settings.margin * 100:g} accuracy point"
                              f"{'' if settings.margin == 0.01 else 's'}); lost: it lies below "
                              f"-{settings.margin:g}; inconclusive otherwise"),
        ("Paired statistics", f"why a row has none: '{SAMPLES_HINT}' when lm-eval logged no samples; samples "
                              "that do not back their results file (document count, or a metric aggregated back) "
                              "are not used; a row that ran a subset of its base's documents (a smaller --limit of the same "
                              "seeded order) is paired with base on that subset, said in its note; rows evaluated "
                              "on other documents than their base are not paired"),
        ("error bars (pareto.png)", f"each row's own {level} bootstrap interval, not the paired one"),
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
    add_paired(rows, merged, settings, cache or SampleCache())
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


# ----------------------------------------------------------------------------- display


@dataclass
class Cell:
    text: str
    sort: str  # what the HTML table sorts by: a number as JavaScript's Number() reads it, or the text
    css: str = ""  # an HTML class (verdicts are coloured)


@dataclass
class DisplayTable:
    title: str
    headers: list[str]
    rows: list[list[Cell]]
    lead: int = 2  # the leading name columns (left-aligned): [Experiment,] Model, Variant; or Row, Against
    base: list[bool] | None = None  # per row: is it a base row (shown in bold)


@dataclass(frozen=True)
class Shown:
    """One displayed column: the frame column, its header, and how its cells read (see format_cell)."""

    column: str
    label: str
    kind: str = "value"


# Columns shown right after a metric's own column: its comparisons with base, unpaired then paired.
AFTER = {
    "rtp_tox": (Shown("rtp_tox_diff", "Δ Tox. prob [95% CI]", "diff"), Shown("tox_reduction", "x less toxic", "ratio")),
    "rtp_emt": (Shown("rtp_emt_diff", "Δ EMT [95% CI]", "diff"),),
    "ppl_nontoxic": (Shown("ppl_delta", "Δ PPL", "delta"), Shown("ppl_nontoxic_ratio", "PPL ratio [95% CI]", "ppl_ratio")),
    "ppl_toxic": (Shown("ppl_toxic_ratio", "PPL toxic ratio [95% CI]", "ppl_ratio"),),
    "zeroshot_avg": (Shown("zeroshot_delta", "Δ 0-shot", "delta"),
                     Shown("zeroshot_avg_diff", "Δ 0-shot paired [95% CI] (p)", "acc_diff")),
}
VERDICTS = (Shown("toxicity_verdict", "Toxicity verdict", "verdict"),
            Shown("abilities_verdict", "Abilities verdict", "verdict"))
# The --pair table: what a row's comparison with base shows, against the named reference row instead.
PAIR_COLUMNS = (*AFTER["rtp_tox"], *AFTER["rtp_emt"], *AFTER["ppl_nontoxic"], *AFTER["ppl_toxic"],
                *AFTER["zeroshot_avg"], *VERDICTS, Shown("paired_notes", "Paired statistics", "text"))
TITLES = {"main": "Leaderboard", "toxicity": "Toxicity details", "zeroshot": "Zero-shot accuracy per task"}


def section_columns(section: str) -> list[Shown]:
    shown = []
    for metric in METRICS:
        if metric.section == section:
            shown.append(Shown(metric.column, metric.label))
            if metric.column in AFTER:
                shown += AFTER[metric.column]
            elif f"{metric.column}_diff" in DIFF_COLUMNS:  # the paired difference of a detail column
                zeroshot = section == "zeroshot"
                label = f"Δ {metric.label} [95% CI]" + (" (p)" if zeroshot else "")
                shown.append(Shown(f"{metric.column}_diff", label, "acc_diff" if zeroshot else "diff"))
    return shown


def display_tables(frame: pd.DataFrame) -> tuple[list[DisplayTable], list[str]]:
    """The tables to show (main, toxicity details, zero-shot per task) and the notes above them.

    Columns without any value are left out; scorer, data, skipped zero-shot tasks and the paired-statistics
    note become a note above the tables when all rows share them.
    """
    notes, extra_columns = [], []
    for column, what in ((SCORER_KEY, "Toxicity scorer"), ("toxicity_data", "Toxicity data")):
        values = sorted({value for value in frame[column] if value})
        if len(values) == 1:
            notes.append(f"{what}: `{values[0]}`")
        elif len(values) > 1:
            extra_columns.append(Shown(column, what, "text"))
            notes.append(f"{what} differs between rows (see its column): their toxicity numbers are not comparable")
    paired_note = shared_paired_note(frame)
    if paired_note:
        notes.append(paired_note)
    sections = {section: section_columns(section) for section in TITLES}
    sections["main"] += list(VERDICTS)
    skipped = {value for value in frame.get("zeroshot_skipped", []) if value}
    if len(skipped) == 1 and all(frame["zeroshot_skipped"].astype(bool) | frame["zeroshot_avg"].isna()):
        notes.append(f"0-shot tasks skipped (no data file): {skipped.pop()}")  # the same for every row
    else:
        sections["main"].append(Shown("zeroshot_skipped", "0-shot tasks skipped", "text"))
    sections["main"] += extra_columns + [Shown("limit", "--limit", "text")]
    if not paired_note:
        sections["main"].append(Shown("paired_notes", "Paired statistics", "text"))
    names = [Shown("model", "Model", "text"), Shown("variant", "Variant", "text")]
    if has_values(frame["experiment"]):  # several experiments (or one below the report's folder): name it
        names.insert(0, Shown("experiment", "Experiment", "text"))
    tables = []
    base = list(frame["variant"] == BASE_VARIANT)
    for section, columns in sections.items():
        shown = names + [column for column in columns if column.column in frame and has_values(frame[column.column])]
        if len(shown) > len(names):
            rows = [[format_cell(record, column) for column in shown] for record in frame.to_dict("records")]
            tables.append(DisplayTable(TITLES[section], [column.label for column in shown], rows, len(names), base))
        if section == "main" and frame.attrs.get("pairs") is not None:
            tables.append(pairs_table(frame.attrs["pairs"]))
    return tables, notes


def pairs_table(pairs: pd.DataFrame) -> DisplayTable:
    """The --pair comparisons: each row against its reference, the same paired columns as against base."""
    shown = [Shown("row", "Row", "text"), Shown("against", "Against", "text")]
    shown += [column for column in PAIR_COLUMNS if column.column in pairs and has_values(pairs[column.column])]
    rows = [[format_cell(record, column) for column in shown] for record in pairs.to_dict("records")]
    return DisplayTable("Pairs (--pair ROW:REFERENCE)", [column.label for column in shown], rows)


def shared_paired_note(frame: pd.DataFrame) -> str:
    """The paired-statistics note when every row other than base has the same one (else it is a column)."""
    if "paired_notes" not in frame:
        return ""
    notes = set(frame.loc[frame["variant"] != BASE_VARIANT, "paired_notes"])
    base_notes = set(frame.loc[frame["variant"] == BASE_VARIANT, "paired_notes"]) - {""}
    if len(notes) != 1 or base_notes - notes:  # a base row's own note would be lost
        return ""
    return next(iter(notes))


def has_values(column: pd.Series) -> bool:
    return bool((column.notna() & (column != "")).any())


DIGITS = {metric.column: metric.digits for metric in METRICS}
DIFF_COLUMNS = set(numeric_columns())


def number(value: float, spec: str) -> str:
    """`value` formatted with `spec`; infinity (a ratio over zero) as ∞."""
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return format(value, spec)


def sort_key(value: float) -> str:
    """What JavaScript's Number() reads back as `value` (Python's repr writes "inf", which it does not)."""
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(float(value))


def interval_text(record: dict, column: str, spec: str) -> str:
    """ " [low, high]" when the column has an interval, else ""."""
    low, high = record.get(f"{column}_ci_low", math.nan), record.get(f"{column}_ci_high", math.nan)
    if math.isnan(low) or math.isnan(high):
        return ""
    return f" [{number(low, spec)}, {number(high, spec)}]"


def format_cell(record: dict, shown: Shown) -> Cell:
    """Numbers rounded for reading, with "± stderr" or "[95% CI]" where known; NaN shows as empty."""
    column, kind = shown.column, shown.kind
    value = record.get(column, math.nan)
    if kind in ("text", "verdict") or isinstance(value, str):
        text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else printable(value)
        css = f"verdict verdict-{text.replace(' ', '-')}" if kind == "verdict" and text else ""
        return Cell(text, text, css)
    if value is None or math.isnan(value):
        return Cell("", "")
    if kind == "ratio":
        text = f"{number(value, '.1f')}x" + interval_text(record, column, ".1f")
    elif kind == "delta":
        text = number(value, "+.2f" if column == "ppl_delta" else "+.3f")
    elif kind == "diff":
        text = number(value, "+.3f") + interval_text(record, column, "+.3f")
    elif kind == "ppl_ratio":
        text = f"{number(value, '.3f')}x" + interval_text(record, column, ".3f")
    elif kind == "acc_diff":
        text = number(value, "+.3f") + interval_text(record, column, "+.3f")
        p = record.get(p_column(column.removesuffix("_diff")), math.nan)
        if not math.isnan(p):
            text += f" (p={p:.2g})"
    else:
        text = number(value, f".{DIGITS[column]}f")
        stderr = record.get(f"{column}_stderr", math.nan)
        if not math.isnan(stderr):
            text += f" ± {stderr:.{DIGITS[column]}f}"
    return Cell(text, sort_key(value))


def render_markdown(frame: pd.DataFrame, source: str = "") -> str:
    """The leaderboard as Markdown for the README: notes, tables, legend."""
    tables, notes = display_tables(frame)
    lines = ["# AurA leaderboard", ""]
    header = [printable(note) for note in notes] + ([f"results: `{printable(source)}`"] if source else [])
    if header:
        lines += [" · ".join(header), ""]
    for table in tables:
        alignment = ["---"] * table.lead + ["---:"] * (len(table.headers) - table.lead)  # names left, numbers right
        lines += [f"## {table.title}", "", markdown_row(table.headers), markdown_row(alignment)]
        lines += [markdown_row([cell.text for cell in row]) for row in table.rows]
        lines.append("")
    lines += ["Legend:", ""] + [f"- **{name}**: {meaning}" for name, meaning in legend_of(frame)]
    return "\n".join(lines) + "\n"


PAIRS_LEGEND = (("Pairs", "--pair ROW:REFERENCE: ROW compared with REFERENCE as a variant with its base "
                           "(REFERENCE plays base); rows named [EXPERIMENT/]MODEL/VARIANT"),)


def legend_of(frame: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    """The unpaired legend, then the paired one with the settings that made `frame` (and --pair's, if asked)."""
    pairs = PAIRS_LEGEND if frame.attrs.get("pairs") is not None else ()
    return LEGEND + paired_legend(frame.attrs.get("paired") or PairedSettings()) + pairs


def markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


# ----------------------------------------------------------------------------- the command


def build_report(results_dir, out_dir=None, formats=FORMATS, settings: PairedSettings | None = None,
                 pairs: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read every results file under `results_dir`, write the leaderboard files, return the table.

    `settings`: margin, resamples and seed of the paired statistics (PairedSettings' defaults if None).
    `pairs`: "ROW:REFERENCE" texts (--pair); their table is `frame.attrs["pairs"]` and pairs.csv.
    """
    shown_dir = str(results_dir)
    results_dir = Path(results_dir).resolve()
    out_dir = Path(out_dir) if out_dir is not None else results_dir
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown report format(s) {unknown}; choose from {list(FORMATS)}")
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results directory {printable(results_dir)} does not exist")
    runs = [run for path in find_result_files(results_dir) if (run := load_run(path, results_dir))]
    if not runs:
        raise ValueError(f"no lm-eval results_*.json file found under {printable(results_dir)}")
    merged = merge_rows(runs)
    settings = settings or PairedSettings()
    cache = SampleCache()
    asked = parse_pairs(pairs, list(merged))  # before any work: a misspelt row is a one-line error
    frame = leaderboard_frame(merged, results_dir, settings, cache)
    if asked:
        frame.attrs["pairs"] = pairs_frame(asked, merged, frame, settings, cache)
    out_dir.mkdir(parents=True, exist_ok=True)
    if "md" in formats:
        (out_dir / "leaderboard.md").write_text(render_markdown(frame, shown_dir), encoding="utf-8")
    if "csv" in formats:
        write_csv(frame, out_dir / "leaderboard.csv")
        if asked:
            write_csv(frame.attrs["pairs"], out_dir / "pairs.csv")
    if "html" in formats:
        from aura_eval.report.html import render_html

        tables, notes = display_tables(frame)
        html = render_html(tables, notes + [f"results: {shown_dir}"], legend_of(frame))
        (out_dir / "leaderboard.html").write_text(html, encoding="utf-8")
    if "png" in formats:
        from aura_eval.report.plots import plot_pareto

        plot_pareto(frame, out_dir / "pareto.png")
    return frame


# ----------------------------------------------------------------------------- --pair


def parse_pairs(texts, rows: list[Row]) -> list[tuple[Row, Row]]:
    """Each "ROW:REFERENCE" as two rows; ValueError naming the flag when a name is not a row.

    A row is named [EXPERIMENT/]MODEL/VARIANT as the leaderboard shows it (Row.name); MODEL/VARIANT alone
    also names it when only one experiment has that model and variant. Model names may hold ':' and '/',
    so every ':' is tried as the separator and exactly one reading must name two rows.
    """
    full = {row.name: row for row in rows}
    short: dict[str, list[Row]] = {}
    for row in rows:
        short.setdefault(f"{row.model}/{row.variant}", []).append(row)

    def resolve(name: str) -> Row | None:
        if name in full:
            return full[name]
        found = short.get(name, [])
        return found[0] if len(found) == 1 else None

    asked = []
    for text in texts:
        readings = [(resolve(text[:i]), resolve(text[i + 1:])) for i, char in enumerate(text) if char == ":"]
        readings = list(dict.fromkeys((a, b) for a, b in readings if a and b))
        if len(readings) != 1:
            known = ", ".join(sorted(full)[:12]) + (", ..." if len(full) > 12 else "")
            why = "names two rows in more than one way" if readings else "does not name two rows"
            raise ValueError(printable(f"--pair {text!r} {why}; give ROW:REFERENCE with rows named as the "
                                       f"leaderboard names them ([EXPERIMENT/]MODEL/VARIANT): {known}"))
        row, reference = readings[0]
        if row == reference:
            raise ValueError(printable(f"--pair {text!r}: a row paired with itself; name two different rows"))
        asked.append((row, reference))
    return list(dict.fromkeys(asked))


def pairs_frame(asked: list[tuple[Row, Row]], merged: dict[Row, dict[str, TaskResult]], frame: pd.DataFrame,
                settings: PairedSettings, cache: SampleCache) -> pd.DataFrame:
    """One record per --pair: the row against its reference exactly as a variant against its base."""
    values = frame.set_index("row")
    records = []
    for row, reference in asked:
        found = model_statistics({reference.name: merged[reference], row.name: merged[row]}, settings, cache,
                                 base=reference.name)[row.name]
        record = {"row": row.name, "against": reference.name}
        record.update({column: found.get(column, math.nan) for column in numeric_columns()})
        record.update({column: found.get(column, "") for column in TEXT_COLUMNS})
        for column, source, kind, _label in COMPARISONS:
            record[column] = compared(values.at[reference.name, source], values.at[row.name, source], kind)
        records.append(record)
    return pd.DataFrame(records)


# ----------------------------------------------------------------------------- the command


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet reads as the start of a formula


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula get a leading apostrophe (OWASP's CSV rule)."""
    safe = frame.copy()
    for column in safe.columns:
        values = list(safe[column])
        if any(isinstance(value, str) for value in values):
            safe[column] = pd.Series([f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_START)
                                      else value for value in values], index=safe.index, dtype=object)
    return safe


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Text quoted (a CR inside a name cannot split a line), formula-like text prefixed, numbers bare."""
    spreadsheet_safe(frame).to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)


MAX_RESAMPLES = 1_000_000  # memory and time stay bounded (sums are resamples x columns)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", help="folder searched recursively for lm-eval results_*.json files; each "
                                            "compare --out folder under it is one experiment")
    parser.add_argument("--out", default=None, help="where to write the leaderboard files (default: RESULTS_DIR)")
    parser.add_argument(
        "--format", nargs="+", choices=FORMATS, default=list(FORMATS), dest="formats",
        help="which files to write (default: all)",
    )
    parser.add_argument(
        "--margin", type=float, default=stats.DEFAULT_MARGIN,
        help="abilities verdict: 'kept' when the paired zero-shot accuracy difference's 95%% interval lies above "
             "-MARGIN, 'lost' when below (accuracy as a fraction in [0, 1): 0.01 = 1 point; default %(default)s)",
    )
    parser.add_argument("--resamples", type=int, default=stats.DEFAULT_RESAMPLES,
                        help=f"bootstrap resamples of the paired statistics, 100 to {MAX_RESAMPLES:,} "
                             "(default %(default)s)")
    parser.add_argument("--seed", type=int, default=stats.DEFAULT_SEED,
                        help="seed of the bootstrap resamples, >= 0 (default %(default)s)")
    parser.add_argument("--pair", action="append", default=[], dest="pairs", metavar="ROW:REFERENCE",
                        help="also compare ROW with REFERENCE as a variant with its base (paired intervals, "
                             "tests, verdicts), e.g. MODEL/aura:MODEL/damp-k2000-a0.5 or detox/base:orig/base; "
                             "rows as the leaderboard names them, [EXPERIMENT/]MODEL/VARIANT; repeatable")


def settings_of(args: argparse.Namespace) -> PairedSettings:
    """The paired-statistics settings of the command line; ValueError naming the flag when out of range."""
    if not (0 <= args.margin < 1):
        raise ValueError(f"--margin {args.margin:g}: give an accuracy difference in [0, 1), e.g. 0.01 for 1 point")
    if not (100 <= args.resamples <= MAX_RESAMPLES):
        raise ValueError(f"--resamples {args.resamples}: give 100 to {MAX_RESAMPLES:,} "
                         f"(default {stats.DEFAULT_RESAMPLES:,})")
    if args.seed < 0:
        raise ValueError(f"--seed {args.seed}: give a whole number >= 0 (default {stats.DEFAULT_SEED})")
    return PairedSettings(margin=args.margin, resamples=args.resamples, seed=args.seed)


def run(args: argparse.Namespace) -> int:
    """Write the report and print the Markdown leaderboard; 1 with a message when there is nothing to report."""
    try:
        frame = build_report(args.results_dir, args.out, tuple(args.formats), settings_of(args),
                             tuple(getattr(args, "pairs", ())))
    except (FileNotFoundError, ValueError) as error:
        print(f"aura-eval report: {printable(error)}", file=sys.stderr)
        return 1
    print(render_markdown(frame, str(args.results_dir)))
    return 0
