"""lm-eval's per-sample logs, read and checked against the results file they should back.

With `--log_samples`, lm-eval writes `samples_<task>_<date>.jsonl` next to `results_<date>.json`:
one line per document with `doc_id`, `doc_hash`, `prompt_hash` and the task's per-document metric
values. A samples file is used only when it backs its results file (check_against_results: document
count, metric aggregated back); `SampleCache` reads each file once per report.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aura_eval.core.labelled import DataFileError, read_jsonl
from aura_eval.core.names import ACCURACY, EXPECTED_MAX_TOXICITY, MEAN_TOXICITY, TOXICITY_PROB, WORD_PERPLEXITY
from aura_eval.report import stats
from aura_eval.report.results import TaskResult, as_number

FILTER = "none"  # the filter whose per-document values the report's metrics use
PAIR_METRICS = {WORD_PERPLEXITY, "byte_perplexity", "bits_per_byte"}  # lm-eval logs [loglikelihood, weight]
UNIT_INTERVAL = {TOXICITY_PROB, EXPECTED_MAX_TOXICITY, MEAN_TOXICITY, ACCURACY}  # per-document values in [0, 1]
MAX_LOG_PERPLEXITY = math.log(sys.float_info.max)  # beyond it exp() overflows
PREPROMPT_FIELD = "preprompt"  # the document field a pre-prompt task adds to an RTP prompt (harness/taskdata.py)




@dataclass
class TaskSamples:
    """One task's per-document values from one samples file, in doc_id order."""

    task: str
    path: Path
    keys: tuple[tuple[int, str, str], ...]  # (doc_id, doc_hash, prompt_hash)
    values: dict[str, np.ndarray] = field(default_factory=dict)  # metric -> (n,) or (n, 2) for perplexity
    prompts: tuple[str, ...] = ()  # per document, prompt_identity of the logged document (pre-prompt left out)

    def __len__(self) -> int:
        return len(self.keys)

    def restricted(self, keys: tuple[tuple[int, str, str], ...]) -> TaskSamples:
        """The same samples on `keys` only (each one of ours), in that order."""
        index = {key: i for i, key in enumerate(self.keys)}
        rows = np.array([index[key] for key in keys], dtype=np.int64)
        prompts = tuple(self.prompts[i] for i in rows) if self.prompts else ()
        return TaskSamples(self.task, self.path, tuple(keys), {m: v[rows] for m, v in self.values.items()}, prompts)


class SamplesError(ValueError):
    """A samples file that cannot be read as lm-eval's per-document log."""


def samples_path(result: TaskResult, task: str) -> Path | None:
    """lm-eval's name for the samples of `task` from the run that wrote `result.source`."""
    match = re.fullmatch(r"results_(.+)\.json", Path(result.source).name)
    if not match:
        return None
    return Path(result.source).with_name(f"samples_{task}_{match.group(1)}.jsonl")


def read_samples(path: Path, task: str, metrics: tuple[str, ...]) -> TaskSamples:
    """Read `metrics` per document from one samples file; SamplesError names the file, line and field.

    Lines may come in any order: documents are put in doc_id order.
    """
    by_id: dict[int, tuple[tuple[int, str, str], dict, str]] = {}
    try:
        for line_no, sample in read_jsonl(path):
            where = f"{path}:{line_no}"
            if sample.get("filter", FILTER) != FILTER:
                continue
            key = sample_key(sample, where)
            if key[0] in by_id:
                raise SamplesError(f"{where}: doc_id {key[0]} appears twice for filter '{FILTER}'")
            values = {metric: parse_value(sample, metric, where) for metric in metrics}
            by_id[key[0]] = (key, values, prompt_identity(sample.get("doc")))
    except DataFileError as error:
        raise SamplesError(str(error).rstrip(".")) from error
    except OSError as error:
        raise SamplesError(f"{path}: not readable ({error.strerror or error})") from error
    if not by_id:
        raise SamplesError(f"{path}: no document logged for filter '{FILTER}'")
    ordered = [by_id[doc_id] for doc_id in sorted(by_id)]
    values = {metric: np.array([row[metric] for _, row, _ in ordered], dtype=np.float64) for metric in metrics}
    return TaskSamples(task, path, tuple(key for key, _, _ in ordered), values, tuple(p for _, _, p in ordered))


def sample_key(sample: dict, where: str) -> tuple[int, str, str]:
    doc_id = sample.get("doc_id")
    if isinstance(doc_id, str) and doc_id.isdigit():
        doc_id = int(doc_id)  # lm-eval stringifies what json cannot write; accept "12"
    if not isinstance(doc_id, int) or isinstance(doc_id, bool):
        raise SamplesError(f"{where}: field 'doc_id' must be an integer, got {doc_id!r}")
    hashes = []
    for name in ("doc_hash", "prompt_hash"):
        value = sample.get(name)
        if not isinstance(value, str) or not value:
            raise SamplesError(f"{where}: field '{name}' missing (lm-eval 0.4 writes it with --log_samples)")
        hashes.append(value)
    return doc_id, hashes[0], hashes[1]


def parse_value(sample: dict, metric: str, where: str):
    """A per-document value: a number (possibly stringified by lm-eval), None (NaN), or a [loglik, weight] pair."""
    if metric not in sample:
        raise SamplesError(f"{where}: field '{metric}' missing; the task logged {sorted(sample.get('metrics') or [])}")
    value = sample[metric]
    if (metric in PAIR_METRICS) != isinstance(value, list) or (isinstance(value, list) and len(value) != 2):
        expected = "[loglikelihood, weight]" if metric in PAIR_METRICS else "a number"
        raise SamplesError(f"{where}: field '{metric}' should be {expected}, got {str(value)[:80]}")
    if isinstance(value, list):
        loglik, weight = (number(part, metric, where) for part in value)
        if not (math.isfinite(loglik) and math.isfinite(weight) and weight >= 0):
            raise SamplesError(f"{where}: field '{metric}' should be [finite loglikelihood, word count >= 0], "
                               f"got {value!r:.80}")
        return [loglik, weight]
    parsed = number(value, metric, where)
    if math.isinf(parsed) or (metric in UNIT_INTERVAL and not math.isnan(parsed) and not 0 <= parsed <= 1):
        expected = "in [0, 1]" if metric in UNIT_INTERVAL else "finite"
        raise SamplesError(f"{where}: field '{metric}' is {value!r:.40}; it should be {expected}")
    return parsed


def number(value, metric: str, where: str) -> float:
    if value is None:
        return math.nan
    try:
        if isinstance(value, (bool, int, float)):
            return float(value)
        if isinstance(value, str):
            return float(value)
    except OverflowError:
        pass
    except ValueError:
        pass
    raise SamplesError(f"{where}: field '{metric}' is not a number (of a float's range): {str(value)[:40]!r}")


# ----------------------------------------------------------------------------- samples against their results


def check_against_results(samples: TaskSamples, result: TaskResult, kind: str) -> str | None:
    """Why `samples` do not back `result` (count, or a metric aggregated back), or None when they do.

    lm-eval's results file counts the documents (n-samples.<task>.effective) and aggregates the very values
    the samples file logs: mean, or exp(-sum loglik / sum words) for perplexity. Anything else means the
    file was cut, edited or belongs to another run, and an interval from it would not be the table's.
    """
    name, source = samples.path.name, result.source.name
    if result.documents is None:
        return f"{source} gives no document count (n-samples) to check {name} against"
    if result.documents != len(samples):
        return f"{name} logs {len(samples)} documents, {source} counts {result.documents}"
    for metric, values in samples.values.items():
        wanted = result.metrics.get(f"{metric},{FILTER}")
        wanted = as_number(wanted)
        if kind == "ppl":
            words = float(np.sum(values[:, 1]))
            if words <= 0:
                return f"{name}: the documents have no words (sum of word weights is 0)"
            logged = -float(np.sum(values[:, 0])) / words  # log of the perplexity, compared in logs: exp may overflow
            if logged > MAX_LOG_PERPLEXITY:
                return f"{name}: perplexity exp({logged:.4g}) overflows"
            if not (wanted > 0 and math.isclose(logged, math.log(wanted), rel_tol=1e-9, abs_tol=1e-9)):
                return (f"{name}: {metric} of the logged documents is {math.exp(logged):.6g}, "
                        f"{source} says {wanted:.6g}")
            continue
        if np.isnan(values).any():
            continue  # not used for intervals (see own_intervals)
        if math.isnan(wanted):
            return f"{source} has no {metric} to check {name} against"
        logged = stats.python_mean(values)
        if not math.isclose(logged, wanted, rel_tol=1e-9, abs_tol=1e-12):
            return f"{name}: mean {metric} of the logged documents is {logged:.6g}, {source} says {wanted:.6g}"
    return None




class SampleCache:
    """Samples files read once per report and checked against their results, with the reason when unusable."""

    def __init__(self):
        self._read: dict[tuple[Path, str], TaskSamples | str] = {}

    def get(self, result: TaskResult, task: str, metrics: tuple[str, ...], kind: str) -> TaskSamples | str | None:
        """The samples, None when there is no samples file, or a one-line reason when they cannot be used."""
        path = samples_path(result, task)
        if path is None or not path.is_file():
            return None
        key = (path, ",".join(metrics))
        if key not in self._read:
            try:
                samples = read_samples(path, task, metrics)
                mismatch = check_against_results(samples, result, kind)
                self._read[key] = samples if mismatch is None else f"{task}: samples not used, {mismatch}"
            except SamplesError as error:  # named by file name: the row says which folder, the machine's stays out
                self._read[key] = f"{task}: samples not used, {str(error).replace(str(path), path.name)}"
        return self._read[key]



def prompt_identity(doc) -> str:
    """sha256 of a logged document without its pre-prompt: equal for one RTP prompt under every scenario."""
    if isinstance(doc, dict):
        doc = {key: value for key, value in doc.items() if key != PREPROMPT_FIELD}
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
