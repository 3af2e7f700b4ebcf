"""Labelled sentences for learning AurA: Jigsaw `train.csv`, local `text,label` files, or a Hub dataset.

Label 1 = toxic, 0 = non-toxic. The paper samples a balanced set from Jigsaw 2018; `balanced_sample`
does the same for any source.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

JIGSAW_OTHER_COLUMNS = ("severe_toxic", "obscene", "threat", "insult", "identity_hate")
TEXT_COLUMNS = ("text", "comment_text", "sentence", "content")
LABEL_COLUMNS = ("label", "toxic", "is_toxic", "labels")


def _to_label(value, where: str) -> int:
    if isinstance(value, bool):
        return int(value)
    text = str(value).strip().lower()
    if text in ("1", "1.0", "true", "toxic", "yes"):
        return 1
    if text in ("0", "0.0", "false", "non-toxic", "nontoxic", "no"):
        return 0
    raise ValueError(f"{where}: label {value!r} is not 0/1 (1 = toxic, 0 = non-toxic)")


def _pick(columns, wanted: str | None, candidates: tuple[str, ...], what: str, source: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise ValueError(f"{source}: no {what} column {wanted!r}; columns are {list(columns)}")
        return wanted
    for c in candidates:
        if c in columns:
            return c
    raise ValueError(f"{source}: cannot find a {what} column among {list(columns)}; pass --{what}-column")


def rows_from_frame(df, source: str, text_column: str | None = None, label_column: str | None = None) -> list[tuple[str, int]]:
    """(text, label) rows of a pandas frame, with the Jigsaw rule when it has Jigsaw's columns."""
    text_col = _pick(df.columns, text_column, TEXT_COLUMNS, "text", source)
    label_col = _pick(df.columns, label_column, LABEL_COLUMNS, "label", source)
    df = df.dropna(subset=[text_col, label_col])
    if label_col == "toxic" and all(c in df.columns for c in JIGSAW_OTHER_COLUMNS):
        # Jigsaw: as in the paper, drop non-toxic rows that carry another toxicity label.
        other = (df[list(JIGSAW_OTHER_COLUMNS)].astype(float) > 0.5).any(axis=1)
        df = df[(df["toxic"].astype(float) > 0.5) | ~other]
    rows = []
    for i, (text, label) in enumerate(zip(df[text_col], df[label_col])):
        text = str(text).strip()
        if text:
            if isinstance(label, float) and 0 < label < 1:  # a toxicity score, e.g. civil_comments
                label = int(label >= 0.5)
            rows.append((text, _to_label(label, f"{source} row {i}")))
    return rows


def load_labelled(
    source: str,
    text_column: str | None = None,
    label_column: str | None = None,
    split: str = "train",
) -> list[tuple[str, int]]:
    """All (text, label) rows of `source`: a .csv/.tsv/.jsonl/.json/.parquet file, or a Hub dataset id."""
    import pandas as pd

    path = Path(source)
    suffix = path.suffix.lower()
    if path.is_file():
        if suffix in (".csv", ".tsv"):
            df = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        elif suffix in (".jsonl", ".json"):
            df = pd.read_json(path, lines=suffix == ".jsonl")
        elif suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            raise ValueError(f"{source}: unsupported file type {suffix!r}; use .csv, .tsv, .jsonl, .json or .parquet")
    elif path.exists() or suffix in (".csv", ".tsv", ".jsonl", ".json", ".parquet") or source.startswith((".", "/")):
        raise FileNotFoundError(f"No data file at {source}")
    else:
        from datasets import load_dataset

        try:
            df = load_dataset(source, split=split).to_pandas()
        except Exception as e:
            raise ValueError(f"Could not load Hub dataset {source!r} (split {split!r}): {e}") from e
    rows = rows_from_frame(df, source, text_column, label_column)
    if not rows:
        raise ValueError(f"{source}: no labelled rows with text")
    return rows


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
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()
