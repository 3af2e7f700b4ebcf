"""The members of the zero-shot group `aura_zeroshot` and their local files: where each is found, and checks.

Each member is lm-eval's task of the same name (`piqa`, `hellaswag`, ...: `ZEROSHOT_SPECS`). Where its
documents come from:

- ``<task>_file`` in the metadata names a file (absolute, or relative to the data folder);
- else, with a data folder (env AURA_DATA_DIR or metadata ``data_dir``), ``<task>.jsonl`` in it (or the one
  file matching ``<task>_*.jsonl`` / ``<task>-*.jsonl``, e.g. ``piqa_dev.jsonl``);
- a file holds the documents of the split lm-eval evaluates (`ZeroShotSpec.split`), one JSON object a line
  with the dataset's original fields (`ZeroShotSpec.layout`);
- every line is checked for the fields and types of the Hub dataset, then for meaning (a label among the
  choices, an answerKey among the labels, ...: see "meaning checks"), each error naming file, line and
  field; `check_zeroshot_files` does this without lm-eval or a model, before a runner loads one.

harness.zeroshot builds the group and its lm-eval tasks from these.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from aura_eval.core.text import printable
from aura_eval.harness.taskdata import (
    DataFileError,
    SourcedDatasetDict,
    data_dir_from,
    named_file,
    read_jsonl,
)

logger = logging.getLogger(__name__)



# ------------------------------------------------------------------------------------ field checks


@dataclass(frozen=True)
class FieldType:
    """What one field of a zero-shot document must hold (the type it has in the Hub dataset)."""

    description: str
    check: Callable[[Any], bool]


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _is_int_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_int(v) for v in value)


def _one_of(*allowed: Any) -> Callable[[Any], bool]:
    return lambda value: type(value) is type(allowed[0]) and value in allowed


TEXT = FieldType("a string", _is_str)
TEXTS = FieldType("a non-empty list of strings", _is_str_list)
INTS = FieldType("a non-empty list of integers", _is_int_list)
CHOICES = {"text": TEXTS, "label": TEXTS}  # ARC / OpenBookQA: {"text": [...], "label": ["A", "B", ...]}


def _label(*allowed: Any) -> FieldType:
    shown = " or ".join(repr(a) for a in allowed)
    return FieldType(shown, _one_of(*allowed))


# ------------------------------------------------------------------------------------ meaning checks
#
# The types above say a document can be read; these say it is a question lm-eval can score as intended.
# Each returns (field, problem) for the first thing wrong, or None. They mirror what lm-eval's YAML does with
# the fields (`choices.label.index(answerKey)`, `int(label)` as an index into `endings`, ...), so a document
# that passes cannot crash lm-eval mid-run nor be scored against an answer that is not among its choices.

Problem = tuple[str, str] | None


def _blank_choice(choices: list[str], field: str) -> Problem:
    blank = [i for i, text in enumerate(choices) if not text.strip()]
    return (field, f"choice {blank[0]} is blank; every choice needs text") if blank else None


def _filled(*names: str) -> Callable[[Mapping[str, Any]], Problem]:
    """piqa / social_iqa: one field per choice, each with text (the label's range is the type check's)."""

    def check(doc: Mapping[str, Any]) -> Problem:
        return next(((name, "is blank; every choice needs text") for name in names if not doc[name].strip()), None)

    return check


def _hellaswag(doc: Mapping[str, Any]) -> Problem:
    endings, gold = doc["endings"], int(doc["label"])
    if len(endings) < 2:
        return "endings", f"holds {len(endings)} ending; a question needs at least 2"
    if gold >= len(endings):
        return "label", f"is {doc['label']!r} but there are {len(endings)} endings (label counts from '0')"
    return _blank_choice(endings, "endings")


def _winogrande(doc: Mapping[str, Any]) -> Problem:
    blanks = doc["sentence"].count("_")
    if blanks != 1:
        return "sentence", f"holds {blanks} '_' blanks; it needs exactly one (where option1 or option2 goes)"
    return _filled("option1", "option2")(doc)


def _lettered(strip_key: bool) -> Callable[[Mapping[str, Any]], Problem]:
    """arc / openbookqa: choices {text, label} of one length, distinct labels, answerKey among them
    (openbookqa's YAML strips leading spaces from answerKey, arc's does not)."""

    def check(doc: Mapping[str, Any]) -> Problem:
        texts, labels = doc["choices"]["text"], doc["choices"]["label"]
        if len(texts) != len(labels):
            return "choices", f"has {len(texts)} texts but {len(labels)} labels; they pair up one to one"
        if len(texts) < 2:
            return "choices.text", f"holds {len(texts)} choice; a question needs at least 2"
        if len(set(labels)) != len(labels):
            return "choices.label", f"repeats a label ({labels!r:.80}); each choice needs its own"
        key = doc["answerKey"].lstrip() if strip_key else doc["answerKey"]
        if key not in labels:
            return "answerKey", f"is {doc['answerKey']!r:.40}, not one of the choice labels {labels!r:.80}"
        return _blank_choice(texts, "choices.text")

    return check


def _truthfulqa_mc2(doc: Mapping[str, Any]) -> Problem:
    choices, labels = doc["mc2_targets"]["choices"], doc["mc2_targets"]["labels"]
    if len(choices) != len(labels):
        return "mc2_targets", f"has {len(choices)} choices but {len(labels)} labels; they pair up one to one"
    if not set(labels) <= {0, 1}:
        return "mc2_targets.labels", f"holds {sorted(set(labels) - {0, 1})!r:.40}; labels are 1 (true) or 0 (false)"
    if 1 not in labels or 0 not in labels:
        missing = "true (1)" if 1 not in labels else "false (0)"
        return "mc2_targets.labels", (f"has no {missing} answer; MC2 needs at least one true and one false answer "
                                      "(with only true ones every model scores 1.0)")
    return _blank_choice(choices, "mc2_targets.choices")


def _triviaqa(doc: Mapping[str, Any]) -> Problem:
    if not doc["question"].strip():
        return "question", "is blank"
    if not any(alias.strip() for alias in doc["answer"]["aliases"]):
        return "answer.aliases", "holds no non-blank alias; exact match needs at least one answer to match"
    return None


# ------------------------------------------------------------------------------------ the members


@dataclass(frozen=True)
class ZeroShotSpec:
    """One member of aura_zeroshot: lm-eval's task, its YAML inside lm-eval, and its documents' layout.

    `fields` are the original fields lm-eval's config reads (nested dicts for nested fields); a file may hold
    more (they are kept and logged with the samples). `split` is the split lm-eval evaluates. `meaning` checks,
    once the types are right, that the document is a question lm-eval can score (see "meaning checks").
    """

    task: str
    lm_eval_yaml: str  # relative to lm_eval/tasks
    dataset: str  # the Hub dataset, for messages and the README
    split: str
    fields: Mapping[str, FieldType | Mapping[str, FieldType]]
    meaning: Callable[[Mapping[str, Any]], Problem]

    @property
    def file_key(self) -> str:
        return f"{self.task}_file"

    @property
    def file_name(self) -> str:
        return f"{self.task}.jsonl"

    @property
    def layout(self) -> str:
        parts = []
        for name, kind in self.fields.items():
            if isinstance(kind, Mapping):
                inner = ", ".join(f"{key}: {sub.description}" for key, sub in kind.items())
                parts.append(f"{name} ({{{inner}}})")
            else:
                parts.append(f"{name} ({kind.description})")
        return ", ".join(parts)


ZEROSHOT_SPECS: dict[str, ZeroShotSpec] = {
    spec.task: spec
    for spec in (
        ZeroShotSpec("piqa", "piqa/piqa.yaml", "baber/piqa", "validation",
                     {"goal": TEXT, "sol1": TEXT, "sol2": TEXT, "label": _label(0, 1)}, _filled("sol1", "sol2")),
        ZeroShotSpec("social_iqa", "siqa/siqa.yaml", "lighteval/siqa", "validation",
                     {"context": TEXT, "question": TEXT, "answerA": TEXT, "answerB": TEXT, "answerC": TEXT,
                      "label": _label("1", "2", "3")}, _filled("answerA", "answerB", "answerC")),
        ZeroShotSpec("hellaswag", "hellaswag/hellaswag.yaml", "Rowan/hellaswag", "validation",
                     {"activity_label": TEXT, "ctx_a": TEXT, "ctx_b": TEXT, "endings": TEXTS,
                      "label": _label("0", "1", "2", "3")}, _hellaswag),
        ZeroShotSpec("winogrande", "winogrande/default.yaml", "allenai/winogrande (winogrande_xl)", "validation",
                     {"sentence": FieldType("a string with one '_' blank", lambda v: _is_str(v) and "_" in v),
                      "option1": TEXT, "option2": TEXT, "answer": _label("1", "2")}, _winogrande),
        ZeroShotSpec("arc_easy", "arc/arc_easy.yaml", "allenai/ai2_arc (ARC-Easy)", "test",
                     {"question": TEXT, "choices": CHOICES, "answerKey": TEXT}, _lettered(strip_key=False)),
        ZeroShotSpec("arc_challenge", "arc/arc_challenge.yaml", "allenai/ai2_arc (ARC-Challenge)", "test",
                     {"question": TEXT, "choices": CHOICES, "answerKey": TEXT}, _lettered(strip_key=False)),
        ZeroShotSpec("openbookqa", "openbookqa/openbookqa.yaml", "allenai/openbookqa (main)", "test",
                     {"question_stem": TEXT, "choices": CHOICES, "answerKey": TEXT}, _lettered(strip_key=True)),
        ZeroShotSpec("truthfulqa_mc2", "truthfulqa/truthfulqa_mc2.yaml", "truthfulqa/truthful_qa (multiple_choice)",
                     "validation", {"question": TEXT, "mc2_targets": {"choices": TEXTS, "labels": INTS}},
                     _truthfulqa_mc2),
        ZeroShotSpec("triviaqa", "triviaqa/default.yaml", "mandarjoshi/trivia_qa (rc.nocontext)", "validation",
                     {"question": TEXT, "answer": {"aliases": TEXTS}}, _triviaqa),
    )
}


def spec_of(task: str) -> ZeroShotSpec:
    if task not in ZEROSHOT_SPECS:
        raise ValueError(f"aura_zeroshot member {task!r} is unknown; valid members: {', '.join(ZEROSHOT_SPECS)}.")
    return ZEROSHOT_SPECS[task]


# ------------------------------------------------------------------------------------ files


def zeroshot_file(spec: ZeroShotSpec, metadata: Mapping[str, Any]) -> Path | None:
    """The local file of a member, or None (then: the Hub without a data folder, skipped with one)."""
    data_dir, _ = data_dir_from(metadata)
    path = named_file(spec.file_key, metadata, data_dir)
    if path is not None or data_dir is None:
        return path
    exact = data_dir / spec.file_name
    if exact.is_file():
        return exact
    candidates = sorted(
        {p for pattern in (f"{spec.task}_*.jsonl", f"{spec.task}-*.jsonl") for p in data_dir.glob(pattern) if p.is_file()}
    )
    if len(candidates) > 1:
        raise DataFileError(
            f"Several files in {data_dir} could hold {spec.task}: {', '.join(printable(p.name) for p in candidates)}. "
            f"Keep one, name one {spec.file_name}, or choose with metadata {spec.file_key}=NAME."
        )
    return candidates[0] if candidates else None


def check_document(spec: ZeroShotSpec, doc: Mapping[str, Any], where: str) -> None:
    """Raise DataFileError naming the first field of `spec.fields` that `doc` lacks or holds wrongly, then the
    first field whose meaning is wrong (a label past the choices, an answerKey not among the labels, ...)."""

    def check(fields: Mapping[str, Any], value: Mapping[str, Any], prefix: str) -> None:
        for name, kind in fields.items():
            if name not in value:
                raise DataFileError(
                    f"{where}: missing field '{prefix}{name}'; {spec.file_name} holds {spec.dataset}'s original "
                    f"fields: {spec.layout}."
                )
            if isinstance(kind, Mapping):
                if not isinstance(value[name], Mapping):
                    raise DataFileError(f"{where}: field '{prefix}{name}' must be an object with {', '.join(kind)}.")
                check(kind, value[name], f"{prefix}{name}.")
            elif not kind.check(value[name]):
                raise DataFileError(
                    f"{where}: field '{prefix}{name}' must be {kind.description} (as in {spec.dataset}), "
                    f"got {value[name]!r:.80}."
                )

    check(spec.fields, doc, "")
    problem = spec.meaning(doc)
    if problem is not None:
        field, what = problem
        raise DataFileError(f"{where}: field '{field}' {what} (in {spec.file_name}, as in {spec.dataset}).")


def read_zeroshot_file(spec: ZeroShotSpec, path: Path) -> list[dict]:
    """The documents of a member's file, every line checked against the original layout."""
    docs = []
    for line_no, obj in read_jsonl(path):
        check_document(spec, obj, f"{path}:{line_no}")
        docs.append(obj)
    if not docs:
        raise DataFileError(f"{path}: no documents; expected one JSON object a line with {spec.layout}.")
    return docs


def check_zeroshot_files(metadata: Mapping[str, Any], members: Iterable[str] | None = None) -> dict[str, Path]:
    """Read and check every local file the group would read (all members, or `members`), without lm-eval's
    task machinery or any model: a runner calls this before it loads a model, so that a wrong file costs no
    minutes. Returns {member: file} for the members that have one; raises DataFileError like the group does.
    """
    found = {}
    for spec in (spec_of(name) for name in (ZEROSHOT_SPECS if members is None else members)):
        path = zeroshot_file(spec, metadata)
        if path is not None:
            read_zeroshot_file(spec, path)
            found[spec.task] = path
    return found


class ZeroShotFile:
    """`custom_dataset` of a member read from a file: lm-eval calls it with the metadata (unused here).

    A callable object rather than a closure, so that the results' config shows the file, not source code.
    """

    def __init__(self, spec: ZeroShotSpec, path: Path):
        self.spec = spec
        self.path = path

    def __call__(self, **_metadata: Any) -> SourcedDatasetDict:
        docs = read_zeroshot_file(self.spec, self.path)
        try:
            split = datasets.Dataset.from_list(docs)
        except (TypeError, ValueError) as err:  # pyarrow's errors derive from these
            raise DataFileError(f"{self.path}: a field changes type between lines ({err}).") from err
        result = SourcedDatasetDict({self.spec.split: split})
        result.source = str(self.path)
        logger.info("%s: %d documents from %s", self.spec.task, len(docs), printable(self.path))
        return result

    def __repr__(self) -> str:
        return f"aura_eval zero-shot file {self.path} (split {self.spec.split!r})"


