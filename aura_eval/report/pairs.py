"""`--pair ROW:REFERENCE`: any two rows of the leaderboard compared as a variant with its base."""

from __future__ import annotations

import math

import pandas as pd

from aura_eval.core.text import printable
from aura_eval.report.catalog import COMPARISONS, TEXT_COLUMNS, numeric_columns
from aura_eval.report.paired import PairedSettings, model_statistics
from aura_eval.report.results import Row, TaskResult
from aura_eval.report.samples import SampleCache
from aura_eval.report.table import compared


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

    def ambiguous(name: str) -> bool:
        return name not in full and len(short.get(name, [])) > 1

    asked = []
    for text in texts:
        splits = [(text[:i], text[i + 1:]) for i, char in enumerate(text) if char == ":"]
        readings = [(resolve(a), resolve(b)) for a, b in splits]
        readings = list(dict.fromkeys((a, b) for a, b in readings if a and b))
        if not readings:
            unclear = [name for a, b in splits for name in (a, b) if ambiguous(name)
                       and (resolve(a) or ambiguous(a)) and (resolve(b) or ambiguous(b))]
            if unclear:
                name = unclear[0]
                candidates = ", ".join(sorted(row.name for row in short[name]))
                raise ValueError(printable(f"--pair {text!r}: {name!r} is ambiguous, it names {candidates}; "
                                           "give the row with its experiment ([EXPERIMENT/]MODEL/VARIANT)"))
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

