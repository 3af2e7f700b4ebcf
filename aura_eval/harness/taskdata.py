"""Where the suite's documents come from: the Hub by default, local files when the user points at them.

lm-eval calls the `load_*` functions as `custom_dataset` with the task's metadata as keyword arguments
(YAML `metadata:` merged with `--model_args` and `--metadata`). Local files are chosen by, in order:

1. a per-file key: ``rtp_file``, ``nontoxic_file``, ``toxic_file`` (absolute, or relative to the data dir,
   or to the working directory when there is no data dir);
2. a data dir: env var ``AURA_DATA_DIR`` (wins) or metadata key ``data_dir``, searched for the file names in
   `KINDS` (exact name first, else exactly one glob match).

With neither, the Hub dataset is loaded. `data_files` in YAML would resolve against the working directory,
which is why the loading happens here instead.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

logger = logging.getLogger(__name__)

DATA_DIR_ENV_VAR = "AURA_DATA_DIR"
DEFAULT_RTP_SEED = 1234
SPLIT = "test"  # every loader returns its documents under this split name

RTP_HUB = ("allenai/real-toxicity-prompts", None, "train")
NONTOXIC_HUB = ("EleutherAI/wikitext_document_level", "wikitext-2-raw-v1", "test")
TOXIC_HUB_CSV = "hf://datasets/OxAISH-AL-LLM/wiki_toxic/test.csv"  # Jigsaw 2018 test comments, label 1 = toxic


class DataFileError(ValueError):
    """A local data file is missing, ambiguous or malformed; the message says what to do."""


@dataclass(frozen=True)
class DataKind:
    """One kind of local data file: how to find it and what it must contain."""

    file_key: str
    description: str
    exact_names: tuple[str, ...]
    globs: tuple[str, ...]
    layout: str
    hub_source: str
    excluded_words: tuple[str, ...] = ()


KINDS: dict[str, DataKind] = {
    "rtp": DataKind(
        file_key="rtp_file",
        description="RealToxicityPrompts prompts",
        exact_names=("rtp_prompts.jsonl",),
        globs=("rtp*.jsonl", "*real*toxicity*prompts*.jsonl"),
        layout='JSON lines in the RTP layout: {"prompt": {"text": ..., "toxicity": ...}, "challenging": ...}',
        hub_source="allenai/real-toxicity-prompts (prompts.jsonl)",
    ),
    "nontoxic": DataKind(
        file_key="nontoxic_file",
        description="non-toxic reference text",
        exact_names=("nontoxic.jsonl",),
        globs=("wikitext*.jsonl", "*nontoxic*.jsonl"),
        layout='JSON lines {"text": ...}, e.g. whole WikiText-2 articles',
        hub_source="EleutherAI/wikitext_document_level (wikitext-2-raw-v1, test)",
    ),
    "toxic": DataKind(
        file_key="toxic_file",
        description="toxic comments",
        exact_names=("toxic.csv", "toxic.jsonl"),
        globs=("jigsaw*.csv", "jigsaw*.jsonl", "toxic*.csv", "toxic*.jsonl"),
        layout="CSV with columns text,label (label 1 = toxic; only those rows are used) or JSON lines of the same",
        hub_source="the Jigsaw Toxic Comment Classification data (e.g. OxAISH-AL-LLM/wiki_toxic on the Hub)",
        excluded_words=("nontoxic", "non_toxic", "non-toxic"),
    ),
}


class SourcedDatasetDict(datasets.DatasetDict):
    """A DatasetDict that remembers where its documents came from, for the results' metadata."""

    source: str = ""


def data_dir_from(metadata: Mapping[str, Any]) -> tuple[Path | None, str]:
    """The data dir (absolute) and where it was set, or (None, "") when none is set."""
    for raw, origin in ((os.environ.get(DATA_DIR_ENV_VAR), DATA_DIR_ENV_VAR), (metadata.get("data_dir"), "data_dir")):
        if raw and str(raw).strip():
            path = Path(str(raw).strip()).expanduser().resolve()
            if not path.is_dir():
                raise DataFileError(f"{origin}={raw!r} is not a directory (resolved to {path}).")
            return path, origin
    return None, ""


def resolve_data_file(kind: str, metadata: Mapping[str, Any]) -> Path | None:
    """The local file for `kind`, or None to use the Hub default."""
    spec = KINDS[kind]
    data_dir, origin = data_dir_from(metadata)
    explicit = metadata.get(spec.file_key)
    if explicit:
        path = Path(str(explicit)).expanduser()
        if not path.is_absolute():
            path = (data_dir or Path.cwd()) / path
        path = path.resolve()
        if not path.is_file():
            raise DataFileError(f"{spec.file_key}={explicit!r} does not exist (resolved to {path}).")
        return path
    if data_dir is None:
        return None
    return discover(kind, data_dir, origin)


def discover(kind: str, data_dir: Path, origin: str = "data_dir") -> Path:
    """Find the one file of `kind` in `data_dir`: an exact name, else a single glob match."""
    spec = KINDS[kind]
    exact = [data_dir / name for name in spec.exact_names if (data_dir / name).is_file()]
    if len(exact) == 1:
        return exact[0]
    candidates = exact or sorted(
        {
            p
            for pattern in spec.globs
            for p in data_dir.glob(pattern)
            if p.is_file() and not any(word in p.name.lower() for word in spec.excluded_words)
        }
    )
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        names = ", ".join(p.name for p in candidates)
        raise DataFileError(
            f"Several files in {data_dir} could hold the {spec.description}: {names}. "
            f"Keep one, or choose with metadata {spec.file_key}=NAME."
        )
    expected = " or ".join(spec.exact_names)
    raise DataFileError(
        f"No {spec.description} file in {data_dir} (set by {origin}). Expected {expected} "
        f"(or exactly one file matching {', '.join(spec.globs)}): {spec.layout}. Point at another file with "
        f"metadata {spec.file_key}=PATH, or unset {DATA_DIR_ENV_VAR}/data_dir to load from the Hub. "
        f"Source of the data: {spec.hub_source}."
    )


# ---------------------------------------------------------------------------------------------- readers


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a bad line raises with its location."""
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataFileError(f"{path}:{line_no}: not valid JSON ({err.msg}).") from err
            if not isinstance(obj, dict):
                raise DataFileError(f"{path}:{line_no}: expected a JSON object, got {type(obj).__name__}.")
            yield line_no, obj


def read_table(path: Path) -> Iterator[tuple[int, dict]]:
    """Rows of a CSV (with header) or JSON-lines file, with their line numbers."""
    if path.suffix.lower() == ".jsonl":
        yield from read_jsonl(path)
        return
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            yield reader.line_num, row


def rtp_record(obj: Mapping[str, Any], where: str) -> dict:
    """The fields the RTP tasks use, from one record in the RTP layout."""
    prompt = obj.get("prompt")
    if not isinstance(prompt, Mapping) or not isinstance(prompt.get("text"), str):
        raise DataFileError(f"{where}: expected a 'prompt' object with a 'text' string (the RTP layout).")
    toxicity = prompt.get("toxicity")
    return {
        "prompt": {"text": prompt["text"], "toxicity": None if toxicity is None else float(toxicity)},
        "challenging": bool(obj.get("challenging", False)),
    }


def parse_label(value: Any, where: str) -> int:
    try:
        label = int(float(str(value).strip()))
    except ValueError:
        label = -1
    if label not in (0, 1):
        raise DataFileError(f"{where}: label must be 0 or 1, got {value!r}.")
    return label


def toxic_texts(rows: Iterator[tuple[int, dict]], source: str) -> list[str]:
    """Texts of rows labelled 1; accepts columns text|comment_text and label|toxic (Kaggle layout)."""
    texts = []
    for line_no, row in rows:
        where = f"{source}:{line_no}"
        text_col = next((c for c in ("text", "comment_text") if c in row), None)
        label_col = next((c for c in ("label", "toxic") if c in row), None)
        if text_col is None or label_col is None:
            raise DataFileError(f"{where}: need columns text (or comment_text) and label (or toxic); got {list(row)}.")
        if parse_label(row[label_col], where) == 1 and str(row[text_col] or "").strip():
            texts.append(str(row[text_col]))
    if not texts:
        raise DataFileError(f"{source}: no rows with label 1 (toxic) and non-empty text.")
    return texts


# ---------------------------------------------------------------------------------------------- loaders


def _sourced(rows: list[dict], source: str) -> SourcedDatasetDict:
    if not rows:
        raise DataFileError(f"{source}: no documents.")
    result = SourcedDatasetDict({SPLIT: datasets.Dataset.from_list(rows)})
    result.source = source
    logger.info("Loaded %d documents from %s", len(rows), source)
    return result


def _hub(path: str, name: str | None, split: str) -> datasets.Dataset:
    return datasets.load_dataset(path, name, split=split)


def load_rtp(**metadata: Any) -> SourcedDatasetDict:
    """RTP prompts with a known toxicity, shuffled with `rtp_seed` so that `--limit N` is a random subset.

    With metadata `preprompts` (a list of strings), prompt i gets pre-prompt i mod len(preprompts).
    Prompts without a toxicity score are dropped, as in the paper's code: the toxic/non-toxic split needs it.
    """
    path = resolve_data_file("rtp", metadata)
    if path is None:
        source = f"hub:{RTP_HUB[0]}"
        records = [rtp_record(obj, f"{source}[{i}]") for i, obj in enumerate(_hub(*RTP_HUB).to_list())]
    else:
        source = str(path)
        records = [rtp_record(obj, f"{path}:{line_no}") for line_no, obj in read_jsonl(path)]
    rows = [{**rec, "rtp_index": i} for i, rec in enumerate(records) if rec["prompt"]["toxicity"] is not None]
    if len(rows) < len(records):
        logger.info("%s: dropped %d prompts without a toxicity score", source, len(records) - len(rows))
    random.Random(int(metadata.get("rtp_seed", DEFAULT_RTP_SEED))).shuffle(rows)
    preprompts = metadata.get("preprompts")
    if preprompts is not None:
        if not isinstance(preprompts, list) or not preprompts or not all(isinstance(p, str) for p in preprompts):
            raise ValueError(f"metadata preprompts must be a non-empty list of strings, got {preprompts!r}.")
        for i, row in enumerate(rows):
            row["preprompt"] = preprompts[i % len(preprompts)]
    return _sourced(rows, source)


def load_nontoxic(**metadata: Any) -> SourcedDatasetDict:
    """Non-toxic documents {"text"} for perplexity; blank documents are skipped (nothing to score)."""
    path = resolve_data_file("nontoxic", metadata)
    if path is None:
        source = f"hub:{NONTOXIC_HUB[0]}/{NONTOXIC_HUB[1]}:{NONTOXIC_HUB[2]}"
        texts = [row["page"] for row in _hub(*NONTOXIC_HUB).to_list()]
    else:
        source = str(path)
        texts = []
        for line_no, obj in read_jsonl(path):
            if not isinstance(obj.get("text"), str):
                raise DataFileError(f"{path}:{line_no}: expected a 'text' string, got keys {list(obj)}.")
            texts.append(obj["text"])
    return _sourced([{"text": t} for t in texts if t.strip()], source)


def load_toxic(**metadata: Any) -> SourcedDatasetDict:
    """Toxic comments {"text"} (label-1 rows only) for perplexity."""
    path = resolve_data_file("toxic", metadata)
    if path is None:
        source = f"hub:{TOXIC_HUB_CSV}"
        hub_rows = datasets.load_dataset("csv", data_files={SPLIT: TOXIC_HUB_CSV}, split=SPLIT).to_list()
        texts = toxic_texts(enumerate(hub_rows, start=2), source)
    else:
        source = str(path)
        texts = toxic_texts(read_table(path), source)
    return _sourced([{"text": t} for t in texts], source)
