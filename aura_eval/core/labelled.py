"""Labelled text: the one reader for learning AurA and for the toxic-perplexity data of the suite.

Sources: a UTF-8 .csv/.tsv (with a header line), .jsonl, .json (an array of objects) or .parquet file, or
a Hub dataset id. The text and label columns are found among `TEXT_COLUMNS` and `LABEL_COLUMNS` (or named
explicitly), and every label goes through `parse_label`: 1 = toxic, 0 = non-toxic, and a toxicity score in
[0, 1] counts as toxic from 0.5 on. Learning (`load_labelled`) and toxic perplexity
(`aura_eval.harness.taskdata.load_toxic`) therefore see the same positives in the same file. Every error
names the file, the line (or record) and the field, and says what would be valid. A text may hold at most
`MAX_TEXT_CHARS` characters, in every format (a longer one is refused, never cut silently).

The paper samples a balanced set from Jigsaw 2018; `balanced_sample` does the same for any source.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import random
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from pathlib import Path
from typing import Any

from aura_eval.core.files import sha256_bytes
from aura_eval.core.text import printable

JIGSAW_OTHER_COLUMNS = ("severe_toxic", "obscene", "threat", "insult", "identity_hate")
TEXT_COLUMNS = ("text", "comment_text", "sentence", "content")
LABEL_COLUMNS = ("label", "toxic", "is_toxic", "labels")
TOXIC_WORDS = ("1", "true", "toxic", "yes")
NONTOXIC_WORDS = ("0", "false", "non-toxic", "nontoxic", "no")
TOXIC_THRESHOLD = 0.5
LABEL_RULE = "0/1, true/false, toxic/non-toxic, yes/no, or a toxicity score in [0, 1] (>= 0.5 is toxic)"
FILE_TYPES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
MAX_TEXT_CHARS = 1_000_000  # per text, in every format: a longer cell is refused (a sentence is ~10-1,000)


class DataFileError(ValueError):
    """A data file is missing, ambiguous or malformed; the message names the file, line and field."""


# ---------------------------------------------------------------------------------------------- labels


def parse_label(value: Any, where: str, field: str = "label") -> int:
    """1 (toxic) or 0 (non-toxic) for one cell, by the one rule of `LABEL_RULE`; anything else raises."""
    original = value
    if hasattr(value, "item") and not isinstance(value, str):  # numpy / pandas scalars from Parquet
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TOXIC_WORDS:
            return 1
        if word in NONTOXIC_WORDS:
            return 0
        try:
            value = float(word)
        except ValueError:
            value = None
    if isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 1:
        return int(value >= TOXIC_THRESHOLD)
    raise DataFileError(f"{where}: field {field!r}: {original!r} is not a label; use {LABEL_RULE}.")


# ---------------------------------------------------------------------------------------------- files


def read_text(path: Path) -> str:
    """The whole file as UTF-8 (a leading byte-order mark is dropped); a bad byte raises with its line."""
    data = path.read_bytes()
    skipped = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skipped:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = skipped + err.start
        line = data.count(b"\n", 0, offset) + 1
        raise DataFileError(
            f"{path}:{line}: not UTF-8 (byte {data[offset]:#04x} at offset {offset}); save the file as UTF-8."
        ) from err


def _empty_file(path: Path, expected: str) -> DataFileError:
    return DataFileError(f"{path}: the file is empty; expected {expected}.")


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a bad line, or an empty file, raises with its location."""
    lines = read_text(path).split("\n")
    if not any(line.strip() for line in lines):
        raise _empty_file(path, "one JSON object per line")
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFileError(f"{path}:{line_no}: not valid JSON ({err.msg}).") from err
        if not isinstance(obj, dict):
            raise DataFileError(f"{path}:{line_no}: expected a JSON object, got {type(obj).__name__}.")
        yield line_no, obj


def read_csv(path: Path, delimiter: str = ",") -> Iterator[tuple[int, dict]]:
    """(first line number, row) for each record after the header; rows must have the header's width."""
    text = read_text(path)
    if not text.strip():
        raise _empty_file(path, "a header line naming the columns (e.g. text,label), then one row per line")
    # csv's own field limit (128 KB by default) would refuse before the one limit of every format below
    csv.field_size_limit(max(csv.field_size_limit(), 2 * MAX_TEXT_CHARS))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader)
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise DataFileError(f"{path}:1: column(s) {duplicated} appear more than once in the header.")
    last_line = reader.line_num
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise DataFileError(f"{path}:{reader.line_num}: not valid CSV ({err}).") from err
        first_line, last_line = last_line + 1, reader.line_num
        if not fields:  # a blank line
            continue
        if len(fields) != len(header):
            raise DataFileError(
                f"{path}:{first_line}: {len(fields)} fields but the header has {len(header)} ({header}); "
                "quote fields that contain the delimiter."
            )
        yield first_line, dict(zip(header, fields, strict=True))


def read_records(path: Path) -> Iterator[tuple[str, dict]]:
    """(location, record) for each record of a labelled-text file; the location is `file:line` where lines exist."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return ((f"{path}:{n}", row) for n, row in read_csv(path, "\t" if suffix == ".tsv" else ","))
    if suffix == ".jsonl":
        return ((f"{path}:{n}", obj) for n, obj in read_jsonl(path))
    if suffix == ".json":
        return _json_array_records(path)
    if suffix == ".parquet":
        return _parquet_records(path)
    raise DataFileError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(FILE_TYPES)}.")


def _json_array_records(path: Path) -> Iterator[tuple[str, dict]]:
    text = read_text(path)
    if not text.strip():
        raise _empty_file(path, "a JSON array of objects")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFileError(f"{path}:{err.lineno}: not valid JSON ({err.msg}).") from err
    if not isinstance(data, list):
        raise DataFileError(f"{path}: expected a JSON array of objects, got {type(data).__name__} (or use .jsonl).")
    for i, obj in enumerate(data, start=1):
        if not isinstance(obj, dict):
            raise DataFileError(f"{path} record {i}: expected a JSON object, got {type(obj).__name__}.")
        yield f"{path} record {i}", obj


def _parquet_records(path: Path) -> Iterator[tuple[str, dict]]:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several unrelated types for a damaged file
        detail = printable(" ".join(str(err).split()))  # pyarrow's messages span lines and quote file bytes
        raise DataFileError(f"{path}: not a readable Parquet file ({type(err).__name__}: {detail:.300}).") from err
    for i, row in enumerate(frame.to_dict("records"), start=1):
        yield f"{path} row {i}", row


# ---------------------------------------------------------------------------------------------- rows


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, source: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise DataFileError(f"{source}: no {what} column {wanted!r}; its columns are {columns}.")
        return wanted
    for c in candidates:
        if c in columns:
            return c
    raise DataFileError(
        f"{source}: no {what} column among {columns}; expected one of {', '.join(candidates)} "
        f"(or name it with --{what}-column when learning)."
    )


def _text_of(value: Any) -> str:
    """The cell as text; None and NaN (Parquet's missing values) are no text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value if isinstance(value, str) else str(value)


def labelled_rows(
    records: Iterable[tuple[str, Mapping]],
    source: str,
    text_column: str | None = None,
    label_column: str | None = None,
) -> list[tuple[str, int]]:
    """(text, label) for each record with a non-blank text, texts as written; Jigsaw's rule when it has Jigsaw's columns.

    Columns are chosen from the first record. Jigsaw's `train.csv` (label column `toxic` beside
    `JIGSAW_OTHER_COLUMNS`) is read as the paper does: non-toxic rows carrying another toxicity label are dropped.
    """
    records = iter(records)
    first = next(records, None)
    if first is None:
        raise DataFileError(f"{source}: no rows (only a header?); expected labelled texts.")
    columns = [str(c) for c in first[1]]
    text_col = _pick(columns, text_column, TEXT_COLUMNS, "text", source)
    label_col = _pick(columns, label_column, LABEL_COLUMNS, "label", source)
    jigsaw = label_col == "toxic" and all(c in columns for c in JIGSAW_OTHER_COLUMNS)
    rows = []
    for where, record in chain([first], records):
        for field in (text_col, label_col):
            if field not in record:
                raise DataFileError(f"{where}: no field {field!r} (the first record has it); its fields are {list(record)}.")
        text = _text_of(record[text_col])
        if len(text) > MAX_TEXT_CHARS:
            raise DataFileError(f"{where}: field {text_col!r} holds {len(text):,} characters, more than the "
                                f"{MAX_TEXT_CHARS:,} a text may have; shorten or drop it.")
        if not text.strip():  # nothing to learn from or to score
            continue
        label = parse_label(record[label_col], where, label_col)
        if jigsaw and label == 0 and any(parse_label(record[c], where, c) for c in JIGSAW_OTHER_COLUMNS):
            continue
        rows.append((text, label))
    return rows


def load_labelled(
    source: str,
    text_column: str | None = None,
    label_column: str | None = None,
    split: str = "train",
) -> list[tuple[str, int]]:
    """All (text, label) rows of `source` for learning (texts stripped): a local file or a Hub dataset id."""
    path = Path(source)
    suffix = path.suffix.lower()
    if path.is_file():
        records = read_records(path)
    elif path.exists() or suffix in FILE_TYPES or source.startswith((".", "/")):
        raise FileNotFoundError(f"No data file at {source}")
    else:
        records = _hub_records(source, split)
    rows = [(text.strip(), label) for text, label in labelled_rows(records, source, text_column, label_column)]
    if not rows:
        raise DataFileError(f"{source}: no labelled rows with text.")
    return rows


def _hub_records(source: str, split: str) -> Iterator[tuple[str, dict]]:
    from datasets import load_dataset

    try:
        dataset = load_dataset(source, split=split)
    except Exception as e:
        raise ValueError(f"Could not load Hub dataset {source!r} (split {split!r}): {e}") from e
    return ((f"{source} ({split}) row {i}", row) for i, row in enumerate(dataset))


# ---------------------------------------------------------------------------------------------- sampling


def balanced_sample(rows: list[tuple[str, int]], n_per_class: int | None, seed: int = 0) -> list[tuple[str, int]]:
    """`n_per_class` toxic and as many non-toxic rows, drawn with `seed`; None takes the smaller class whole."""
    by_label = {0: [r for r in rows if r[1] == 0], 1: [r for r in rows if r[1] == 1]}
    counts = {k: len(v) for k, v in by_label.items()}
    if min(counts.values()) == 0:
        raise ValueError(
            f"AurA needs both toxic and non-toxic sentences; got {counts[1]} toxic and {counts[0]} non-toxic"
        )
    n = min(counts.values()) if n_per_class is None else int(n_per_class)
    if n > min(counts.values()):
        raise ValueError(f"--n-per-class {n} exceeds what the data has ({counts[1]} toxic, {counts[0]} non-toxic)")
    rng = random.Random(seed)
    sample = rng.sample(by_label[1], n) + rng.sample(by_label[0], n)
    rng.shuffle(sample)
    return sample


def data_hash(rows: list[tuple[str, int]]) -> str:
    """A digest of exactly the sentences and labels used, recorded in the state file."""
    return sha256_bytes(json.dumps(rows, ensure_ascii=False).encode())
