"""Paired statistics of each variant against its model's base row (or of any --pair of rows), from
lm-eval's per-sample logs (samples.py reads and checks them).

Two rows are paired on a task over the documents both logged (same ids, same document and prompt
hashes, any line order): all of them, or, when a row ran a subset of the base row's documents (a smaller
--limit of the same seeded order), that subset, said in the row's note. Rows whose documents differ
otherwise are refused, and why is said in the row's note. Which columns are paired, and how, is the
metric catalog's `paired` kind (catalog.py):
- mean (aura_rtp and its siblings): per-prompt toxicity_prob, expected_max_toxicity,
  mean_toxicity -> variant - base differences, and base / variant toxicity probability ("x less toxic");
- ppl (aura_ppl_*): per-document (loglikelihood, words) from word_perplexity -> the
  variant / base perplexity ratio, each side exp(-sum loglik / sum words) as lm-eval aggregates it;
- acc (piqa, arc_easy, ...): variant - base accuracy per task (exact McNemar p) and its
  unweighted mean over the tasks both rows ran (the sign-flip test of that same mean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from aura_eval.core.names import SCORER_KEY
from aura_eval.report import stats
from aura_eval.report.catalog import (
    MEAN_METRICS,
    PPL_METRIC,
    PPL_METRICS,
    TOXICITY_RATIO,
    VERDICT_TOXICITY,
    ZEROSHOT_AVERAGE,
    ZEROSHOT_TASKS,
)
from aura_eval.report.provenance import scorer_label
from aura_eval.report.results import BASE_VARIANT, TaskResult
from aura_eval.report.samples import SampleCache, TaskSamples

SAMPLES_HINT = "no paired statistics: rerun with --log_samples"


@dataclass(frozen=True)
class PairedSettings:
    margin: float = stats.DEFAULT_MARGIN
    resamples: int = stats.DEFAULT_RESAMPLES
    seed: int = stats.DEFAULT_SEED
    level: float = stats.LEVEL


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
    for metric in MEAN_METRICS:
        kinds.setdefault(metric.task, ([], "mean"))[0].append(metric.metric)
    for metric in PPL_METRICS:
        kinds[metric.task] = ([PPL_METRIC], "ppl")
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
        for j, spec in enumerate(metric for metric in MEAN_METRICS if metric.task == task):
            values = samples.values[spec.metric]
            if np.isnan(values).any():
                continue
            estimate = stats.own_mean(values, sums[:, j], settings.level)
            row.columns[f"{spec.column}_ci_low"], row.columns[f"{spec.column}_ci_high"] = estimate.low, estimate.high
    elif kind == "ppl":
        column = next(metric.column for metric in PPL_METRICS if metric.task == task)
        pairs = samples.values[PPL_METRIC]
        estimate = stats.own_perplexity(pairs[:, 0], pairs[:, 1], sums, settings.level)
        row.columns[f"{column}_ci_low"], row.columns[f"{column}_ci_high"] = estimate.low, estimate.high


def paired_estimates(task: str, kind: str, base: TaskSamples, variant: TaskSamples, base_sums: np.ndarray,
                     variant_sums: np.ndarray, row: RowStats, settings: PairedSettings) -> None:
    level = settings.level
    if kind == "mean":
        for j, spec in enumerate(metric for metric in MEAN_METRICS if metric.task == task):
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
        column = next(metric.column for metric in PPL_METRICS if metric.task == task)
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
