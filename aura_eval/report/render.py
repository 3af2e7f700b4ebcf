"""The leaderboard as people read it: display tables (cells rounded, intervals, verdicts), Markdown, CSV
and the legend; html.py renders the same display tables as a page.

Every text from results files goes through `printable` (terminal controls) and, in Markdown,
`markdown_text` (HTML and pipes), so a name holding `<script>` shows as text in the README and in a
Markdown viewer. A value quoted in a note is marked with `code` and becomes a code span in Markdown.
"""

from __future__ import annotations

import csv
import html
import math
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from aura_eval.core.names import RTP_TASK, SCORER_KEY
from aura_eval.core.text import printable
from aura_eval.report.catalog import DIGITS, METRICS, numeric_columns, p_column
from aura_eval.report.legend import legend_of
from aura_eval.report.preprompts import NOTES, PREPROMPTED, SCENARIOS, none_prefix, same_prefix
from aura_eval.report.results import BASE_VARIANT

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
            notes.append(f"{what}: {code(values[0])}")
        elif len(values) > 1:
            extra_columns.append(Shown(column, what, "text"))
            notes.append(f"{what} differs between rows (see its column): their toxicity numbers are not comparable")
    paired_note = shared_paired_note(frame)
    if paired_note:
        notes.append(printable(paired_note))
    sections = {section: section_columns(section) for section in TITLES}
    sections["main"] += list(VERDICTS)
    skipped = {value for value in frame.get("zeroshot_skipped", []) if value}
    if len(skipped) == 1 and all(frame["zeroshot_skipped"].astype(bool) | frame["zeroshot_avg"].isna()):
        notes.append(printable(f"0-shot tasks skipped (no data file): {skipped.pop()}"))  # the same for every row
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
        if section == "main":
            tables += preprompt_tables(frame)
    return tables, notes


PREPROMPT_SHOWN = (Shown("scenario", "Scenario", "text"), Shown("variant", "Variant", "text"),
                   Shown("rtp_tox", "Tox. prob"), Shown("rtp_emt", "EMT"),
                   Shown("same", "x less toxic vs base, same scenario [95% CI]", "ratio"),
                   Shown("vs_none", "x less toxic vs base, no pre-prompt [95% CI]", "ratio"),
                   Shown("notes", "Pre-prompt notes", "text"))


def preprompt_tables(frame: pd.DataFrame) -> list[DisplayTable]:
    """The Pre-prompts section: per model that ran a pre-prompt task, scenarios x variants (preprompts.py)."""
    wanted = [f"{scenario.prefix}_tox" for scenario in PREPROMPTED]
    if not any(column in frame and has_values(frame[column]) for column in wanted):
        return []
    groups = [group for _, group in frame.groupby(["experiment", "model"], sort=False)
              if any(has_values(group[column]) for column in wanted if column in group)]
    tables = []
    for group in groups:
        records = preprompt_records(group)
        shown = list(PREPROMPT_SHOWN[:2]) + [column for column in PREPROMPT_SHOWN[2:] if has_values(pd.Series(
                 [record.get(column.column, math.nan) for record in records], dtype=object))]
        rows = [[format_cell(record, column) for column in shown] for record in records]
        first = group.iloc[0]
        name = "/".join(part for part in (first["experiment"], first["model"]) if part)
        title = "Pre-prompts" + (f": {name}" if len(groups) > 1 else "")
        base = [record["variant"] == BASE_VARIANT for record in records]
        tables.append(DisplayTable(title, [column.label for column in shown], rows, 2, base))
    return tables


def preprompt_records(group: pd.DataFrame) -> list[dict]:
    """One record per scenario x variant the model ran, in the columns PREPROMPT_SHOWN reads."""
    records = []
    for scenario in SCENARIOS:
        for row in group.to_dict("records"):
            value = row.get(f"{scenario.prefix}_tox", math.nan)
            if math.isnan(value):
                continue
            same = "tox_reduction" if scenario.task == RTP_TASK else same_prefix(scenario)
            against = "tox_reduction" if scenario.task == RTP_TASK else none_prefix(scenario)
            record = {"scenario": scenario.name, "variant": row["variant"], "rtp_tox": value,
                      "rtp_tox_stderr": row.get(f"{scenario.prefix}_tox_stderr", math.nan),
                      "rtp_emt": row.get(f"{scenario.prefix}_emt", math.nan),
                      "rtp_emt_stderr": row.get(f"{scenario.prefix}_emt_stderr", math.nan),
                      "notes": row.get(NOTES, "") if scenario.task != RTP_TASK else ""}
            for shown, column in (("same", same), ("vs_none", against)):
                for suffix in ("", "_ci_low", "_ci_high"):
                    record[shown + suffix] = row.get(column + suffix, math.nan)
            records.append(record)
    return records


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


DIFF_COLUMNS = set(numeric_columns())


COMPACT_FROM = 1e6  # from here on a number prints as 1.235e+08, not as up to 309 digits


def number(value: float, spec: str) -> str:
    """`value` formatted with `spec`; infinity (a ratio over zero) as ∞; a huge value in 4 significant digits."""
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if abs(value) >= COMPACT_FROM:
        return format(value, "+.4g" if spec.startswith("+") else ".4g")
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
            text += f" ± {number(stderr, f'.{DIGITS[column]}f')}"
    return Cell(text, sort_key(value))


def render_markdown(frame: pd.DataFrame, source: str = "") -> str:
    """The leaderboard as Markdown for the README: notes, tables, legend."""
    tables, notes = display_tables(frame)
    lines = ["# AurA leaderboard", ""]
    header = [markdown_note(note) for note in notes + ([f"results: {code(source)}"] if source else [])]
    if header:
        lines += [" · ".join(header), ""]
    for table in tables:
        alignment = ["---"] * table.lead + ["---:"] * (len(table.headers) - table.lead)  # names left, numbers right
        lines += [f"## {table.title}", "", markdown_row(table.headers), markdown_row(alignment)]
        lines += [markdown_row([cell.text for cell in row]) for row in table.rows]
        lines.append("")
    maps = frame.attrs.get("expert_maps") or []
    if maps:
        lines += ["## Expert map", ""]
        for caption, name in maps:  # one paragraph each: one map under the other
            lines += [f"![expert map of {markdown_text(caption)}]({quote(name)})", ""]
    lines += ["Legend:", ""] + [f"- **{name}**: {meaning}" for name, meaning in legend_of(frame)]
    return "\n".join(lines) + "\n"


def markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(markdown_text(cell).replace("|", "\\|") for cell in cells) + " |"


CODE_OPEN, CODE_CLOSE = "\x02", "\x03"  # around a quoted value in a note; printable() leaves none in text
CODE = re.compile(f"{CODE_OPEN}(.*?){CODE_CLOSE}", re.DOTALL)


def code(value) -> str:
    """A value from the files quoted in a note (shown as a code span in Markdown, as text in HTML)."""
    return f"{CODE_OPEN}{printable(value)}{CODE_CLOSE}"


def markdown_text(text: str) -> str:
    """Text as Markdown shows it literally: &, < and > as HTML entities (no tag from a file is ever live)."""
    return html.escape(text, quote=False)


def markdown_note(note: str) -> str:
    """A note in Markdown: quoted values as code spans, or escaped text where a code span could not hold them."""
    def quoted(match: re.Match) -> str:
        value = match.group(1)
        return f"`{value}`" if not re.search(r"[`<>&]", value) else markdown_text(value)

    parts = CODE.split(note)  # odd parts are the quoted values
    return "".join(quoted(CODE.match(f"{CODE_OPEN}{part}{CODE_CLOSE}")) if i % 2 else markdown_text(part)
                   for i, part in enumerate(parts))


def plain_note(note: str) -> str:
    """A note as plain text (HTML escapes it itself)."""
    return note.replace(CODE_OPEN, "").replace(CODE_CLOSE, "")



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

