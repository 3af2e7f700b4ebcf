"""Where the suite's documents come from: the Hub by default, local files when the user points at them.

lm-eval calls the `load_*` functions as `custom_dataset` with the task's metadata as keyword arguments
(YAML `metadata:` merged with `--model_args` and `--metadata`). Local files are chosen by, in order:

1. a per-file key: ``rtp_file``, ``nontoxic_file``, ``toxic_file`` (absolute, or relative to the data dir,
   or to the working directory when there is no data dir);
2. a data dir: env var ``AURA_DATA_DIR`` (wins) or metadata key ``data_dir``, searched for the file names in
   `KINDS` (exact name first, else exactly one glob match).

With neither, the Hub dataset is loaded. `data_files` in YAML would resolve against the working directory,
which is why the loading happens here instead.

Files are read as UTF-8 and every error names the file, the line and the field. The toxic comments go
through `aura_eval.core.labelled`, the reader of the learning data: same columns, same label rule.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from aura_eval.core.labelled import LABEL_RULE, DataFileError, labelled_rows, read_jsonl, read_records
from aura_eval.core.names import DATA_DIR_ENV, DATA_DIR_KEY
from aura_eval.core.text import printable

logger = logging.getLogger(__name__)

DATA_DIR_ENV_VAR = DATA_DIR_ENV
DEFAULT_RTP_SEED = 1234
SPLIT = "test"  # every loader returns its documents under this split name

RTP_HUB = ("allenai/real-toxicity-prompts", None, "train")
NONTOXIC_HUB = ("EleutherAI/wikitext_document_level", "wikitext-2-raw-v1", "test")
TOXIC_HUB_CSV = "hf://datasets/OxAISH-AL-LLM/wiki_toxic/test.csv"  # Jigsaw 2018 test comments, label 1 = toxic


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
        layout=(
            "CSV with a header line, a text column (text, comment_text, sentence or content) and a label column "
            "(label, toxic, is_toxic or labels); only rows labelled toxic are used (1, true, toxic, yes, or a "
            "score >= 0.5); or JSON lines of the same"
        ),
        hub_source="the Jigsaw Toxic Comment Classification data (e.g. OxAISH-AL-LLM/wiki_toxic on the Hub)",
        excluded_words=("nontoxic", "non_toxic", "non-toxic"),
    ),
}


class SourcedDatasetDict(datasets.DatasetDict):
    """A DatasetDict that remembers where its documents came from, for the results' metadata."""

    source: str = ""
    run_metadata: dict[str, Any]  # set per instance: what the task adds to its results metadata


def data_dir_from(metadata: Mapping[str, Any]) -> tuple[Path | None, str]:
    """The data dir (absolute) and where it was set, or (None, "") when none is set."""
    for raw, origin in ((os.environ.get(DATA_DIR_ENV_VAR), DATA_DIR_ENV_VAR), (metadata.get(DATA_DIR_KEY), DATA_DIR_KEY)):
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
    path = named_file(spec.file_key, metadata, data_dir)
    if path is not None or data_dir is None:
        return path
    return discover(kind, data_dir, origin)


def named_file(file_key: str, metadata: Mapping[str, Any], data_dir: Path | None) -> Path | None:
    """The file that metadata `file_key` names (absolute, or relative to the data dir, else the working
    directory), or None when the key is not set; a name that is no file raises."""
    explicit = metadata.get(file_key)
    if not explicit:
        return None
    path = Path(str(explicit)).expanduser()
    path = (path if path.is_absolute() else (data_dir or Path.cwd()) / path).resolve()
    if not path.is_file():
        raise DataFileError(f"{file_key}={explicit!r} does not exist (resolved to {path}).")
    return path


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
        names = ", ".join(printable(p.name) for p in candidates)
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


def rtp_record(obj: Mapping[str, Any], where: str) -> dict:
    """The fields the RTP tasks use, from one record in the RTP layout."""
    prompt = obj.get("prompt")
    if not isinstance(prompt, Mapping) or not isinstance(prompt.get("text"), str):
        raise DataFileError(f"{where}: expected a 'prompt' object with a 'text' string (the RTP layout).")
    return {
        "prompt": {"text": prompt["text"], "toxicity": rtp_toxicity(prompt.get("toxicity"), where)},
        "challenging": bool(obj.get("challenging", False)),
    }


def rtp_toxicity(value: Any, where: str) -> float | None:
    """The prompt's Perspective toxicity: a number in [0, 1], or None when the prompt has none."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1:
        return float(value)
    raise DataFileError(
        f"{where}: field 'prompt.toxicity': {value!r} is not a number in [0, 1]; use a score like 0.42, "
        "or null for a prompt without one (such prompts are dropped and counted)."
    )


def toxic_texts(records: Iterable[tuple[str, Mapping]], source: str) -> list[str]:
    """Texts labelled toxic, by the same columns and label rule as the learning data (core.labelled)."""
    texts = [text for text, label in labelled_rows(records, source) if label == 1]
    if not texts:
        raise DataFileError(
            f"{source}: no rows with a toxic label and non-empty text; labels read as {LABEL_RULE}."
        )
    return texts


# ---------------------------------------------------------------------------------------------- loaders


def _sourced(rows: list[dict], source: str, **run_metadata: Any) -> SourcedDatasetDict:
    result = SourcedDatasetDict({SPLIT: datasets.Dataset.from_list(rows)})
    result.source = source
    result.run_metadata = run_metadata
    logger.info("Loaded %d documents from %s", len(rows), printable(source))
    return result


def _hub(path: str, name: str | None, split: str) -> datasets.Dataset:
    return datasets.load_dataset(path, name, split=split)


def load_rtp(**metadata: Any) -> SourcedDatasetDict:
    """RTP prompts with a known toxicity, shuffled with `rtp_seed` so that `--limit N` is a random subset.

    With metadata `preprompts` (a list of strings), prompt i gets pre-prompt i mod len(preprompts).
    Prompts without a toxicity score are dropped, as in the paper's code: the toxic/non-toxic split needs it.
    They are counted in the results (`rtp_dropped_no_toxicity`) and a warning says how many.
    """
    path = resolve_data_file("rtp", metadata)
    if path is None:
        source = f"hub:{RTP_HUB[0]}"
        records = [rtp_record(obj, f"{source}[{i}]") for i, obj in enumerate(_hub(*RTP_HUB).to_list())]
    else:
        source = str(path)
        records = [rtp_record(obj, f"{path}:{line_no}") for line_no, obj in read_jsonl(path)]
    rows = [{**rec, "rtp_index": i} for i, rec in enumerate(records) if rec["prompt"]["toxicity"] is not None]
    dropped = len(records) - len(rows)
    if not records:
        raise DataFileError(f"{source}: no prompts; expected {KINDS['rtp'].layout}.")
    if not rows:
        raise DataFileError(
            f"{source}: all {len(records)} prompts read lack prompt.toxicity (null or absent); the RTP tasks need "
            "it to split toxic from non-toxic prompts. Use RealToxicityPrompts' prompts.jsonl, which has it."
        )
    if dropped:
        logger.warning(
            "%s: dropped %d of %d prompts that lack prompt.toxicity (recorded as rtp_dropped_no_toxicity)",
            printable(source), dropped, len(records),
        )
    random.Random(int(metadata.get("rtp_seed", DEFAULT_RTP_SEED))).shuffle(rows)
    preprompts = metadata.get("preprompts")
    if preprompts is not None:
        if not isinstance(preprompts, list) or not preprompts or not all(isinstance(p, str) for p in preprompts):
            raise ValueError(f"metadata preprompts must be a non-empty list of strings, got {preprompts!r}.")
        for i, row in enumerate(rows):
            row["preprompt"] = preprompts[i % len(preprompts)]
    return _sourced(rows, source, rtp_dropped_no_toxicity=dropped)


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
    documents = [{"text": t} for t in texts if t.strip()]
    if not documents:
        raise DataFileError(f"{source}: all {len(texts)} documents read are blank; expected {KINDS['nontoxic'].layout}.")
    return _sourced(documents, source)


def load_toxic(**metadata: Any) -> SourcedDatasetDict:
    """Toxic comments {"text"} (label-1 rows only) for perplexity."""
    path = resolve_data_file("toxic", metadata)
    if path is None:
        source = f"hub:{TOXIC_HUB_CSV}"
        hub_rows = datasets.load_dataset("csv", data_files={SPLIT: TOXIC_HUB_CSV}, split=SPLIT).to_list()
        texts = toxic_texts(((f"{source}:{line}", row) for line, row in enumerate(hub_rows, start=2)), source)
    else:
        source = str(path)
        texts = toxic_texts(read_records(path), source)
    return _sourced([{"text": t} for t in texts], source)
