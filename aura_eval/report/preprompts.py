"""The paper's pre-prompting table: RTP with no pre-prompt, a favourable one and an adversarial one.

For every row that ran a pre-prompt task (aura_preprompt_favourable / _adversarial, tasks/*.yaml), two
"x less toxic" ratios per scenario, each base toxicity probability / this row's:
- `<scenario>_tox_reduction`: against the base row of the same model in the same scenario (does the
  intervention still help under that pre-prompt?);
- `<scenario>_tox_reduction_vs_none`: against the base row with no pre-prompt (aura_rtp), the paper's
  "pre-prompting plus AurA" and "AurA against an adversarial pre-prompt" view.
The no-pre-prompt scenario's ratio is the leaderboard's own `tox_reduction`.

Intervals are paired over the same prompts (stats.paired_ratio, the stream of the scenario's task): in
the same scenario the two rows logged the same documents (or a subset, as paired.py allows); across
scenarios the pre-prompt changes the document and the prompt, so prompts are matched by doc_id and by
the logged document without its pre-prompt (samples.prompt_identity). Without usable samples the ratio
is the unpaired one of the table's values and has no interval; the row's `preprompt_notes` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aura_eval.core.names import PREPROMPT_ADVERSARIAL_TASK, PREPROMPT_FAVOURABLE_TASK, RTP_TASK, TOXICITY_PROB
from aura_eval.report import stats
from aura_eval.report.paired import PairedSettings, scorer_of, task_kinds
from aura_eval.report.results import BASE_VARIANT, Row, TaskResult, as_number
from aura_eval.report.samples import SampleCache, TaskSamples


@dataclass(frozen=True)
class Scenario:
    name: str  # as the table shows it
    task: str
    prefix: str  # its columns: <prefix>_tox, <prefix>_emt (catalog.py)


SCENARIOS = (
    Scenario("none", RTP_TASK, "rtp"),
    Scenario("favourable", PREPROMPT_FAVOURABLE_TASK, "preprompt_favourable"),
    Scenario("adversarial", PREPROMPT_ADVERSARIAL_TASK, "preprompt_adversarial"),
)
PREPROMPTED = SCENARIOS[1:]
NOTES = "preprompt_notes"


def ratio_columns(prefix: str) -> list[str]:
    return [prefix, f"{prefix}_ci_low", f"{prefix}_ci_high"]


def same_prefix(scenario: Scenario) -> str:
    return f"{scenario.prefix}_tox_reduction"


def none_prefix(scenario: Scenario) -> str:
    return f"{scenario.prefix}_tox_reduction_vs_none"


def columns() -> list[str]:
    """The pre-prompt columns of leaderboard.csv, in order (NOTES last)."""
    names = []
    for scenario in PREPROMPTED:
        names += ratio_columns(same_prefix(scenario)) + ratio_columns(none_prefix(scenario))
    return names + [NOTES]


def has_preprompts(merged: dict[Row, dict[str, TaskResult]]) -> bool:
    return any(scenario.task in tasks for tasks in merged.values() for scenario in PREPROMPTED)


def preprompt_columns(merged: dict[Row, dict[str, TaskResult]], settings: PairedSettings,
                      cache: SampleCache) -> dict[Row, dict]:
    """Row -> its pre-prompt columns (NaN / "" where it ran no pre-prompt task or has no base row)."""
    metrics = {task: names for task, names, _kind in task_kinds()}
    out = {}
    for row, tasks in merged.items():
        found = {column: math.nan for column in columns()}
        found[NOTES] = ""
        base = merged.get(Row(row.experiment, row.model, BASE_VARIANT))
        notes = []
        for scenario in PREPROMPTED:
            if scenario.task not in tasks:
                continue
            if base is None:
                notes.append(f"{scenario.task}: no base row for this model")
                continue
            for reference_task, prefix, across in ((scenario.task, same_prefix(scenario), False),
                                                   (RTP_TASK, none_prefix(scenario), True)):
                if reference_task not in base:
                    notes.append(f"{scenario.task}: base ran no {reference_task}")
                    continue
                estimate, note = ratio(base[reference_task], tasks[scenario.task], reference_task, scenario.task,
                                       metrics, across, settings, cache)
                found[prefix], found[f"{prefix}_ci_low"], found[f"{prefix}_ci_high"] = estimate
                if note:
                    notes.append(note)
        found[NOTES] = "; ".join(dict.fromkeys(notes))
        out[row] = found
    return out


def ratio(base: TaskResult, row: TaskResult, base_task: str, task: str, metrics: dict, across: bool,
          settings: PairedSettings, cache: SampleCache) -> tuple[tuple[float, float, float], str]:
    """(base / row toxicity probability, interval low, high) and a note when it is not paired."""
    unpaired = float(stats.toxicity_ratio(value_of(base), value_of(row)))
    if scorer_of(base, 64) != scorer_of(row, 64):
        return (math.nan, math.nan, math.nan), (f"{task}: toxicity scored by {scorer_of(base)} ({base_task} of "
                                                f"base) and {scorer_of(row)}: not compared")
    base_samples = cache.get(base, base_task, metrics[base_task], "mean")
    row_samples = cache.get(row, task, metrics[task], "mean")
    if not isinstance(base_samples, TaskSamples) or not isinstance(row_samples, TaskSamples):
        unusable = [s for s in (base_samples, row_samples) if isinstance(s, str)]
        why = unusable[0] if unusable else f"{task}: no samples, ratios not paired (rerun with --log_samples)"
        return (unpaired, math.nan, math.nan), why
    aligned = matched(base_samples, row_samples, across)
    if aligned is None:
        return (unpaired, math.nan, math.nan), (f"{task}: other prompts than base's {base_task} (other --limit, "
                                                "seed or data): ratios not paired")
    b, v = aligned
    sums = stats.resample_sums(np.column_stack([b, v]), settings.resamples, stats.task_rng(settings.seed, task))
    estimate = stats.paired_ratio(b, v, sums, settings.level)
    return (estimate.value, estimate.low, estimate.high), ""


def value_of(result: TaskResult) -> float:
    return as_number(result.metrics.get(f"{TOXICITY_PROB},none"))


def matched(base: TaskSamples, row: TaskSamples, across: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """The base's and the row's per-prompt toxicity probability on the row's prompts, or None when the row
    ran a prompt that base did not (same scenario: same document keys; across: same doc_id and prompt)."""
    if across:
        base_keys = dict(zip((key[0] for key in base.keys), base.prompts))
        row_keys = list(zip((key[0] for key in row.keys), row.prompts))
        if not row_keys or any(base_keys.get(doc_id) != prompt for doc_id, prompt in row_keys):
            return None
        index = {key[0]: i for i, key in enumerate(base.keys)}
        rows = [index[doc_id] for doc_id, _ in row_keys]
    else:
        index = {key: i for i, key in enumerate(base.keys)}
        if any(key not in index for key in row.keys):
            return None
        rows = [index[key] for key in row.keys]
    b, v = base.values[TOXICITY_PROB][rows], row.values[TOXICITY_PROB]
    if np.isnan(b).any() or np.isnan(v).any():
        return None
    return b, v
