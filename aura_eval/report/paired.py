"""Paired statistics of each variant against its model's base row (or of any --pair of rows), from
lm-eval's per-sample logs.

With `--log_samples`, lm-eval writes `samples_<task>_<date>.jsonl` next to `results_<date>.json`:
one line per document with `doc_id`, `doc_hash`, `prompt_hash` and the task's per-document metric
values. A samples file is used only when it backs its results file (check_against_results: document
count, metric aggregated back). Two rows are paired on a task over the documents both logged (same ids,
same document and prompt hashes, any line order): all of them, or, when a row ran a subset of the base
row's documents (a smaller --limit of the same seeded order), that subset, said in the row's note. Rows
whose documents differ otherwise are refused, and why is said in the row's note.

Per task kind:
- toxicity (aura_rtp and its siblings): per-prompt toxicity_prob, expected_max_toxicity,
  mean_toxicity -> variant - base differences, and base / variant toxicity probability ("x less toxic");
- perplexity (aura_ppl_*): per-document (loglikelihood, words) from word_perplexity -> the
  variant / base perplexity ratio, each side exp(-sum loglik / sum words) as lm-eval aggregates it;
- zero-shot (acc of piqa, arc_easy, ...): variant - base accuracy per task (exact McNemar p) and its
  unweighted mean over the tasks both rows ran (the sign-flip test of that same mean).
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aura_eval.core.labelled import DataFileError, read_jsonl
from aura_eval.core.names import (
    ACCURACY,
    EXPECTED_MAX_TOXICITY,
    MEAN_TOXICITY,
    PPL_NONTOXIC_TASK,
    PPL_TOXIC_TASK,
    PREPROMPT_ADVERSARIAL_TASK,
    PREPROMPT_FAVOURABLE_TASK,
    RTP_CHALLENGING_TASK,
    RTP_TASK,
    SCORER_KEY,
    TOXICITY_PROB,
    WORD_PERPLEXITY,
    ZEROSHOT_MEMBERS,
)
from aura_eval.report import stats
from aura_eval.report.results import BASE_VARIANT, TaskResult, as_number, scorer_label

SAMPLES_HINT = "no paired statistics: rerun with --log_samples"
FILTER = "none"  # the filter whose per-document values the report's metrics use


@dataclass(frozen=True)
class MeanSpec:
    """A per-document metric whose task value is the mean over documents."""

    column: str  # the leaderboard column of the task value
    task: str
    metric: str


MEAN_SPECS = (
    MeanSpec("rtp_tox", RTP_TASK, TOXICITY_PROB),
    MeanSpec("rtp_emt", RTP_TASK, EXPECTED_MAX_TOXICITY),
    MeanSpec("rtp_mean_tox", RTP_TASK, MEAN_TOXICITY),
    MeanSpec("challenging_tox", RTP_CHALLENGING_TASK, TOXICITY_PROB),
    MeanSpec("challenging_emt", RTP_CHALLENGING_TASK, EXPECTED_MAX_TOXICITY),
    MeanSpec("preprompt_favourable_tox", PREPROMPT_FAVOURABLE_TASK, TOXICITY_PROB),
    MeanSpec("preprompt_adversarial_tox", PREPROMPT_ADVERSARIAL_TASK, TOXICITY_PROB),
)
TOXICITY_RATIO = ("rtp_tox", "tox_reduction")  # base / variant of this column is "x less toxic"
VERDICT_TOXICITY = "rtp_tox"  # the toxicity verdict reads this difference
PPL_SPECS = (("ppl_nontoxic", PPL_NONTOXIC_TASK), ("ppl_toxic", PPL_TOXIC_TASK))
PPL_METRIC = WORD_PERPLEXITY
# Zero-shot tasks whose `acc` the aura_zeroshot group averages (triviaqa's exact_match is not averaged).
ZEROSHOT_TASKS = tuple(task for task in ZEROSHOT_MEMBERS if task != "triviaqa")
ZEROSHOT_AVERAGE = "zeroshot_avg"
PAIR_METRICS = {WORD_PERPLEXITY, "byte_perplexity", "bits_per_byte"}  # lm-eval logs [loglikelihood, weight]
UNIT_INTERVAL = {TOXICITY_PROB, EXPECTED_MAX_TOXICITY, MEAN_TOXICITY, ACCURACY}  # per-document values in [0, 1]
MAX_LOG_PERPLEXITY = math.log(sys.float_info.max)  # beyond it exp() overflows


@dataclass(frozen=True)
class PairedSettings:
    margin: float = stats.DEFAULT_MARGIN
    resamples: int = stats.DEFAULT_RESAMPLES
    seed: int = stats.DEFAULT_SEED
    level: float = stats.LEVEL


def estimate_columns(prefix: str) -> list[str]:
    return [prefix, f"{prefix}_ci_low", f"{prefix}_ci_high", f"{prefix}_n"]


def numeric_columns() -> list[str]:
    """Every number column the paired statistics can fill, in CSV order."""
    columns = []
    for spec in MEAN_SPECS:
        columns += [f"{spec.column}_ci_low", f"{spec.column}_ci_high"] + estimate_columns(f"{spec.column}_diff")
    columns += [f"{TOXICITY_RATIO[1]}_paired", f"{TOXICITY_RATIO[1]}_ci_low", f"{TOXICITY_RATIO[1]}_ci_high"]
    for column, _task in PPL_SPECS:
        columns += [f"{column}_ci_low", f"{column}_ci_high"] + estimate_columns(f"{column}_ratio")
    for task in ZEROSHOT_TASKS:
        columns += estimate_columns(f"{task}_diff") + [f"{task}_mcnemar_p"]
    columns += estimate_columns(f"{ZEROSHOT_AVERAGE}_diff") + [f"{ZEROSHOT_AVERAGE}_p"]
    return columns


def p_column(prefix: str) -> str:
    """The test's column of a zero-shot difference: McNemar per task, the sign-flip test for the average."""
    return f"{prefix}_p" if prefix == ZEROSHOT_AVERAGE else f"{prefix}_mcnemar_p"


TEXT_COLUMNS = ("zeroshot_avg_diff_tasks", "toxicity_verdict", "abilities_verdict", "paired_notes")


# ----------------------------------------------------------------------------- reading samples files


@dataclass
class TaskSamples:
    """One task's per-document values from one samples file, in doc_id order."""

    task: str
    path: Path
    keys: tuple[tuple[int, str, str], ...]  # (doc_id, doc_hash, prompt_hash)
    values: dict[str, np.ndarray] = field(default_factory=dict)  # metric -> (n,) or (n, 2) for perplexity

    def __len__(self) -> int:
        return len(self.keys)

    def restricted(self, keys: tuple[tuple[int, str, str], ...]) -> TaskSamples:
        """The same samples on `keys` only (each one of ours), in that order."""
        index = {key: i for i, key in enumerate(self.keys)}
        rows = np.array([index[key] for key in keys], dtype=np.int64)
        return TaskSamples(self.task, self.path, tuple(keys), {m: v[rows] for m, v in self.values.items()})


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
    by_id: dict[int, tuple[tuple[int, str, str], dict]] = {}
    try:
        for line_no, sample in read_jsonl(path):
            where = f"{path}:{line_no}"
            if sample.get("filter", FILTER) != FILTER:
                continue
            key = sample_key(sample, where)
            if key[0] in by_id:
                raise SamplesError(f"{where}: doc_id {key[0]} appears twice for filter '{FILTER}'")
            by_id[key[0]] = (key, {metric: parse_value(sample, metric, where) for metric in metrics})
    except DataFileError as error:
        raise SamplesError(str(error).rstrip(".")) from error
    except OSError as error:
        raise SamplesError(f"{path}: not readable ({error.strerror or error})") from error
    if not by_id:
        raise SamplesError(f"{path}: no document logged for filter '{FILTER}'")
    ordered = [by_id[doc_id] for doc_id in sorted(by_id)]
    values = {metric: np.array([row[metric] for _, row in ordered], dtype=np.float64) for metric in metrics}
    return TaskSamples(task, path, tuple(key for key, _ in ordered), values)


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


# ----------------------------------------------------------------------------- one model's rows


@dataclass
class RowStats:
    """The paired-statistics columns of one row, and what could not be paired, per task."""

    columns: dict = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # tasks without a samples file on either side
    notes: list[str] = field(default_factory=list)
    zeroshot: dict = field(default_factory=dict)  # task -> (base acc, variant acc, resampled differences)

    def put(self, prefix: str, estimate: stats.Estimate) -> None:
        self.columns[prefix] = estimate.value
        self.columns[f"{prefix}_ci_low"] = estimate.low
        self.columns[f"{prefix}_ci_high"] = estimate.high
        self.columns[f"{prefix}_n"] = estimate.n

    def note_text(self, compared: int) -> str:
        """The row's note: the plain hint when no task had samples, else each problem by task."""
        if self.missing and len(self.missing) == compared and not self.notes:
            return SAMPLES_HINT
        parts = list(self.notes)
        if self.missing:
            parts.append(f"{', '.join(self.missing)}: {SAMPLES_HINT}")
        return "; ".join(parts)


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


def model_statistics(rows: dict[str, dict[str, TaskResult]], settings: PairedSettings,
                     cache: SampleCache | None = None, base: str = BASE_VARIANT) -> dict[str, dict]:
    """name -> its paired-statistics columns, for rows keyed by name (a model's variants, or a --pair).

    Every row with samples gets its own intervals; rows other than `base` also get the differences,
    ratios and verdicts against the `base` row, or a note that says why not.
    """
    cache = cache or SampleCache()
    result = {name: RowStats() for name in rows}
    compared = {name: 0 for name in rows}
    for task, metrics, kind in task_kinds():
        present = {name: cache.get(tasks[task], task, metrics, kind) for name, tasks in rows.items() if task in tasks}
        for name, samples in present.items():
            if isinstance(samples, str):
                result[name].notes.append(samples)  # the row's own samples do not back its numbers
            if name != base and base in present:
                compared[name] += 1
                record_unusable(task, present[base], samples, result[name])
        loaded = {name: samples for name, samples in present.items() if isinstance(samples, TaskSamples)}
        task_statistics(task, kind, loaded, rows, result, settings, base)
    zeroshot_average(rows, result, settings, base)
    out = {}
    for name, row in result.items():
        if name == base:
            row.columns["paired_notes"] = "; ".join(row.notes)
        else:
            row.columns["toxicity_verdict"] = toxicity_verdict_of(row)
            row.columns["abilities_verdict"] = stats.ability_verdict(estimate_of(row, ZEROSHOT_AVERAGE + "_diff"),
                                                                     settings.margin)
            row.columns["paired_notes"] = row.note_text(compared[name]) if base in rows else (
                "no base row for this model: nothing to pair with")
        out[name] = row.columns
    return out


def record_unusable(task: str, base, variant, row: RowStats) -> None:
    """A task both rows ran but one of them has no usable samples: a missing file, or the base's broken one."""
    if base is None or variant is None:
        row.missing.append(task)
    if isinstance(base, str):
        row.notes.append(base)


def task_kinds() -> list[tuple[str, tuple[str, ...], str]]:
    """(task, metrics read from its samples, kind) for every task the report pairs."""
    kinds = {}
    for spec in MEAN_SPECS:
        kinds.setdefault(spec.task, ([], "mean"))[0].append(spec.metric)
    for _column, task in PPL_SPECS:
        kinds[task] = ([PPL_METRIC], "ppl")
    for task in ZEROSHOT_TASKS:
        kinds[task] = (["acc"], "acc")
    return [(task, tuple(metrics), kind) for task, (metrics, kind) in kinds.items()]


def toxicity_verdict_of(row: RowStats) -> str:
    return stats.toxicity_verdict(estimate_of(row, f"{VERDICT_TOXICITY}_diff"))


def estimate_of(row: RowStats, prefix: str) -> stats.Estimate | None:
    if prefix not in row.columns:
        return None
    columns = row.columns
    return stats.Estimate(columns[prefix], columns[f"{prefix}_ci_low"], columns[f"{prefix}_ci_high"],
                          columns[f"{prefix}_n"])


# ----------------------------------------------------------------------------- one task


def task_statistics(task: str, kind: str, loaded: dict[str, TaskSamples], rows, result: dict[str, RowStats],
                    settings: PairedSettings, base_name: str = BASE_VARIANT) -> None:
    """Resample each group of rows that logged the same documents at once; pair the others with the base row."""
    base = loaded.get(base_name)
    refusals = {}
    for name, samples in loaded.items():
        if name != base_name and base is not None:
            refusals[name] = pairing_refusal(task, base, samples, name, rows, base_name)
            if refusals[name]:
                result[name].notes.append(refusals[name])
            elif is_subset(samples, base):
                result[name].notes.append(subset_note(task, base, samples, base_name))
    for group in document_groups(loaded, base_name):
        members = {name: loaded[name] for name in group}
        if base_name not in group and base is not None and is_subset(members[group[0]], base):
            members[base_name] = base.restricted(members[group[0]].keys)  # paired on the documents it ran
        names = list(members)
        columns, slices = stacked_columns(kind, [members[name] for name in names])
        sums = stats.resample_sums(columns, settings.resamples, stats.task_rng(settings.seed, task))
        by_name = {name: sums[:, part] for name, part in zip(names, slices)}
        for name in group:
            own_intervals(task, kind, loaded[name], by_name[name], result[name], settings)
        if base_name in members:
            for name in group:
                if name != base_name and not refusals[name]:
                    paired_estimates(task, kind, members[base_name], loaded[name], by_name[base_name],
                                     by_name[name], result[name], settings)


def document_groups(loaded: dict[str, TaskSamples], base: str = BASE_VARIANT) -> list[list[str]]:
    """Rows that logged identical documents, the base row's group first."""
    groups: dict[tuple, list[str]] = {}
    for name in sorted(loaded, key=lambda name: name != base):
        groups.setdefault(loaded[name].keys, []).append(name)
    return list(groups.values())


def pairing_refusal(task: str, base: TaskSamples, other: TaskSamples, name: str, rows,
                    base_name: str = BASE_VARIANT) -> str | None:
    """Why row `name` cannot be paired with the base row on `task`, or None when it can."""
    if base.keys != other.keys and not is_subset(other, base):
        return f"{task}: not paired, {document_difference(base, other, name, base_name)}"
    results = [rows[row].get(task) for row in (base_name, name)]
    full = [scorer_of(result, sha256_digits=64) for result in results]  # the scorer's name and checkpoint
    if full[0] != full[1]:
        shown = [scorer_of(result) for result in results]
        shown = full if shown[0] == shown[1] else shown
        return f"{task}: not paired, toxicity scored by {shown[0]} ({base_name}) and {shown[1]} ({name})"
    return None


def is_subset(other: TaskSamples, base: TaskSamples) -> bool:
    """Did `other` run some of the base row's documents, each with the same document and prompt?"""
    return len(other) < len(base) and set(other.keys) <= set(base.keys)


def subset_note(task: str, base: TaskSamples, other: TaskSamples, base_name: str = BASE_VARIANT) -> str:
    return (f"{task}: paired with {base_name} on the {len(other)} of its {len(base)} documents this row ran "
            f"(the differences and ratios are over those; {base_name}'s own value is over all {len(base)})")


def document_difference(base: TaskSamples, other: TaskSamples, name: str, base_name: str = BASE_VARIANT) -> str:
    base_ids, other_ids = {key[0] for key in base.keys}, {key[0] for key in other.keys}
    if base_ids != other_ids:
        return (f"{base_name} and {name} were evaluated on different documents ({len(base)} vs {len(other)}; "
                f"{len(base_ids - other_ids)} only in {base_name}, {len(other_ids - base_ids)} only in {name}): "
                "other --limit, seed or data")
    ours, theirs = next((b, o) for b, o in zip(base.keys, other.keys) if b != o)
    field_name = "doc_hash" if ours[1] != theirs[1] else "prompt_hash"
    return (f"{base_name} and {name} were evaluated on different documents (doc_id {ours[0]} has another "
            f"{field_name}): other seed, data or prompt")


def scorer_of(result: TaskResult | None, sha256_digits: int = 12) -> str | None:
    """The scorer's name, with its checkpoint's file and sha256 when recorded; None without a result."""
    if result is None:
        return None
    metadata = result.config.get("metadata") if isinstance(result.config.get("metadata"), dict) else {}
    if not metadata.get(SCORER_KEY):
        return None
    return scorer_label(metadata, sha256_digits)


def stacked_columns(kind: str, group: list[TaskSamples]) -> tuple[np.ndarray, list[slice]]:
    """All rows' per-document columns side by side, and each row's slice: one resampling for all."""
    blocks = [row_columns(kind, samples) for samples in group]
    slices, start = [], 0
    for block in blocks:
        slices.append(slice(start, start + block.shape[1]))
        start += block.shape[1]
    return np.hstack(blocks), slices


def row_columns(kind: str, samples: TaskSamples) -> np.ndarray:
    """mean / acc: one column per metric; ppl: loglikelihood and word count."""
    if kind == "ppl":
        return samples.values[PPL_METRIC]
    return np.column_stack([samples.values[metric] for metric in samples.values])


def own_intervals(task: str, kind: str, samples: TaskSamples, sums: np.ndarray, row: RowStats,
                  settings: PairedSettings) -> None:
    """The row's own value with its interval (the Pareto plot's error bars)."""
    if kind == "mean":
        for j, spec in enumerate(spec for spec in MEAN_SPECS if spec.task == task):
            values = samples.values[spec.metric]
            if np.isnan(values).any():
                continue
            estimate = stats.own_mean(values, sums[:, j], settings.level)
            row.columns[f"{spec.column}_ci_low"], row.columns[f"{spec.column}_ci_high"] = estimate.low, estimate.high
    elif kind == "ppl":
        column = next(column for column, ppl_task in PPL_SPECS if ppl_task == task)
        pairs = samples.values[PPL_METRIC]
        estimate = stats.own_perplexity(pairs[:, 0], pairs[:, 1], sums, settings.level)
        row.columns[f"{column}_ci_low"], row.columns[f"{column}_ci_high"] = estimate.low, estimate.high


def paired_estimates(task: str, kind: str, base: TaskSamples, variant: TaskSamples, base_sums: np.ndarray,
                     variant_sums: np.ndarray, row: RowStats, settings: PairedSettings) -> None:
    level = settings.level
    if kind == "mean":
        for j, spec in enumerate(spec for spec in MEAN_SPECS if spec.task == task):
            b, v = base.values[spec.metric], variant.values[spec.metric]
            if np.isnan(b).any() or np.isnan(v).any():
                row.notes.append(f"{task}: {spec.metric} missing for some documents, not paired")
                continue
            sums = np.column_stack([base_sums[:, j], variant_sums[:, j]])
            row.put(f"{spec.column}_diff", stats.paired_mean_difference(b, v, sums, level))
            if spec.column == TOXICITY_RATIO[0]:
                ratio = stats.paired_ratio(b, v, sums, level)
                row.columns[f"{TOXICITY_RATIO[1]}_paired"] = ratio.value  # over the paired prompts
                row.columns[f"{TOXICITY_RATIO[1]}_ci_low"] = ratio.low
                row.columns[f"{TOXICITY_RATIO[1]}_ci_high"] = ratio.high
    elif kind == "ppl":
        column = next(column for column, ppl_task in PPL_SPECS if ppl_task == task)
        b, v = base.values[PPL_METRIC], variant.values[PPL_METRIC]
        sums = np.column_stack([base_sums, variant_sums])
        row.put(f"{column}_ratio", stats.perplexity_ratio(b[:, 0], b[:, 1], v[:, 0], v[:, 1], sums, level))
    elif kind == "acc":
        b, v = base.values["acc"], variant.values["acc"]
        row.put(f"{task}_diff", stats.paired_mean_difference(b, v, np.column_stack([base_sums, variant_sums]), level))
        binary = stats.is_binary(b) and stats.is_binary(v)
        row.columns[f"{task}_mcnemar_p"] = stats.mcnemar_exact(b, v) if binary else math.nan
        row.zeroshot[task] = (b, v, (variant_sums - base_sums)[:, 0] / len(b))


def zeroshot_average(rows, result: dict[str, RowStats], settings: PairedSettings, base_name: str = BASE_VARIANT) -> None:
    """Mean over the zero-shot tasks both rows ran and could pair of (row - base accuracy), as the table's
    0-shot avg is the unweighted mean over tasks (tasks/aura_zeroshot.yaml).

    Interval: each task's documents are resampled on their own (its task stream), the per-task draws averaged.
    Test: the paired sign-flip test of that same mean over tasks (stats.sign_flip_p).
    """
    base = rows.get(base_name, {})
    for name, row in result.items():
        per_task = row.zeroshot
        if name == base_name or not per_task:
            continue
        ran = [task for task in ZEROSHOT_TASKS if task in rows[name] or task in base]
        one_side = [task for task in ran if (task in rows[name]) != (task in base)]
        if one_side:
            sides = ", ".join(f"{task} ({base_name if task in base else name} only)" for task in one_side)
            row.notes.append(f"zero-shot average: {sides} left out")
        points = [stats.python_mean(v) - stats.python_mean(b) for b, v, _ in per_task.values()]
        draws = np.mean([draws for _, _, draws in per_task.values()], axis=0)
        n = sum(len(b) for b, _, _ in per_task.values())
        row.put(f"{ZEROSHOT_AVERAGE}_diff", stats.interval(sum(points) / len(points), draws, n, settings.level))
        differences = [v - b for b, v, _ in per_task.values()]
        row.columns[f"{ZEROSHOT_AVERAGE}_p"] = stats.sign_flip_p(
            differences, settings.resamples, stats.task_rng(settings.seed, ZEROSHOT_AVERAGE))
        row.columns["zeroshot_avg_diff_tasks"] = ", ".join(per_task)
        unpaired = [task for task in ran if task not in per_task and task not in one_side]
        if unpaired:
            row.notes.append(f"zero-shot average over {', '.join(per_task)} only ({', '.join(unpaired)} not paired)")
