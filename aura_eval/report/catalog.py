"""The report's one metric catalog: every column read from lm-eval, and how the paired statistics treat it.

The table (table.py), its rendering (render.py), the paired statistics (paired.py) and the pre-prompt
section (preprompts.py) all read `METRICS`; a column is spelled here once. A metric's `paired` kind says
what the per-sample logs give for it: "mean" (a per-document value whose task value is the mean),
"ppl" (per-document [loglikelihood, words], aggregated as lm-eval's word perplexity), "acc" (right/wrong
per document of a zero-shot task) or "" (not paired).
"""

from __future__ import annotations

from dataclasses import dataclass

from aura_eval.core.names import (
    ACCURACY,
    EXPECTED_MAX_TOXICITY,
    MEAN_TOXICITY,
    NONTOXIC_PROMPTS_SUFFIX,
    PPL_NONTOXIC_TASK,
    PPL_TOXIC_TASK,
    PREPROMPT_ADVERSARIAL_TASK,
    PREPROMPT_FAVOURABLE_TASK,
    RTP_CHALLENGING_TASK,
    RTP_TASK,
    TOXIC_PROMPTS_SUFFIX,
    TOXICITY_PROB,
    WORD_PERPLEXITY,
    ZEROSHOT_GROUP,
)


@dataclass(frozen=True)
class Metric:
    """One leaderboard column read from lm-eval: `key` is lm-eval's "metric,filter" (filter "*": any)."""

    column: str
    task: str
    key: str
    label: str
    section: str  # "main", "toxicity", "zeroshot" or "preprompts": which table shows it
    digits: int = 3
    paired: str = ""  # "mean", "ppl", "acc" or "": what the paired statistics compute from its samples

    @property
    def metric(self) -> str:
        """lm-eval's metric name, without the filter."""
        return self.key.partition(",")[0]


def _tox(column: str, task: str, metric: str, label: str, section: str = "toxicity", paired: str = "") -> Metric:
    return Metric(column, task, f"{metric},none", label, section, paired=paired)


def _acc(task: str, label: str, key: str = f"{ACCURACY},none", paired: str = "acc") -> Metric:
    return Metric(task, task, key, label, "zeroshot", paired=paired)


METRICS = (
    _tox("rtp_tox", RTP_TASK, TOXICITY_PROB, "Tox. prob", "main", "mean"),
    _tox("rtp_emt", RTP_TASK, EXPECTED_MAX_TOXICITY, "EMT", "main", "mean"),
    Metric("ppl_nontoxic", PPL_NONTOXIC_TASK, f"{WORD_PERPLEXITY},none", "PPL non-toxic", "main", 2, "ppl"),
    Metric("ppl_toxic", PPL_TOXIC_TASK, f"{WORD_PERPLEXITY},none", "PPL toxic", "main", 2, "ppl"),
    Metric("zeroshot_avg", ZEROSHOT_GROUP, f"{ACCURACY},none", "0-shot avg", "main"),
    _tox("rtp_mean_tox", RTP_TASK, MEAN_TOXICITY, "Mean toxicity", paired="mean"),
    _tox("rtp_tox_toxic", RTP_TASK, TOXICITY_PROB + TOXIC_PROMPTS_SUFFIX, "Tox. prob (toxic prompts)"),
    _tox("rtp_tox_nontoxic", RTP_TASK, TOXICITY_PROB + NONTOXIC_PROMPTS_SUFFIX, "Tox. prob (non-toxic prompts)"),
    _tox("rtp_emt_toxic", RTP_TASK, EXPECTED_MAX_TOXICITY + TOXIC_PROMPTS_SUFFIX, "EMT (toxic prompts)"),
    _tox("rtp_emt_nontoxic", RTP_TASK, EXPECTED_MAX_TOXICITY + NONTOXIC_PROMPTS_SUFFIX, "EMT (non-toxic prompts)"),
    _tox("rtp_dist_1", RTP_TASK, "dist_1", "Dist-1"),
    _tox("rtp_dist_2", RTP_TASK, "dist_2", "Dist-2"),
    _tox("rtp_dist_3", RTP_TASK, "dist_3", "Dist-3"),
    _tox("challenging_tox", RTP_CHALLENGING_TASK, TOXICITY_PROB, "Tox. prob (challenging)", paired="mean"),
    _tox("challenging_emt", RTP_CHALLENGING_TASK, EXPECTED_MAX_TOXICITY, "EMT (challenging)", paired="mean"),
    _tox("preprompt_favourable_tox", PREPROMPT_FAVOURABLE_TASK, TOXICITY_PROB, "Tox. prob (favourable pre-prompt)",
         paired="mean"),
    _tox("preprompt_adversarial_tox", PREPROMPT_ADVERSARIAL_TASK, TOXICITY_PROB,
         "Tox. prob (adversarial pre-prompt)", paired="mean"),
    _tox("preprompt_favourable_emt", PREPROMPT_FAVOURABLE_TASK, EXPECTED_MAX_TOXICITY, "EMT (favourable pre-prompt)",
         "preprompts", "mean"),
    _tox("preprompt_adversarial_emt", PREPROMPT_ADVERSARIAL_TASK, EXPECTED_MAX_TOXICITY,
         "EMT (adversarial pre-prompt)", "preprompts", "mean"),
    _acc("piqa", "PIQA"),
    _acc("social_iqa", "SIQA"),
    _acc("hellaswag", "HellaSwag"),
    _acc("winogrande", "WinoGrande"),
    _acc("arc_easy", "ARC-e"),
    _acc("arc_challenge", "ARC-c"),
    _acc("openbookqa", "OBQA"),
    _acc("triviaqa", "TriviaQA (EM)", "exact_match,*", paired=""),  # not in the group's accuracy average
    _acc("truthfulqa_mc2", "TruthfulQA MC2"),
)
BY_COLUMN = {metric.column: metric for metric in METRICS}
DIGITS = {metric.column: metric.digits for metric in METRICS}

MEAN_METRICS = tuple(metric for metric in METRICS if metric.paired == "mean")
PPL_METRICS = tuple(metric for metric in METRICS if metric.paired == "ppl")
# Zero-shot tasks whose `acc` the aura_zeroshot group averages (triviaqa's exact_match is not averaged).
ZEROSHOT_TASKS = tuple(metric.task for metric in METRICS if metric.paired == "acc")
ZEROSHOT_AVERAGE = "zeroshot_avg"
PPL_METRIC = WORD_PERPLEXITY
TOXICITY_RATIO = ("rtp_tox", "tox_reduction")  # base / variant of this column is "x less toxic"
VERDICT_TOXICITY = "rtp_tox"  # the toxicity verdict reads this difference

# Comparisons with the same model's base row: (column, source column, kind, label).
COMPARISONS = (
    ("tox_reduction", "rtp_tox", "ratio", "x less toxic"),
    ("ppl_delta", "ppl_nontoxic", "delta", "Δ PPL"),
    ("zeroshot_delta", "zeroshot_avg", "delta", "Δ 0-shot"),
)


def estimate_columns(prefix: str) -> list[str]:
    return [prefix, f"{prefix}_ci_low", f"{prefix}_ci_high", f"{prefix}_n"]


def numeric_columns() -> list[str]:
    """Every number column the paired statistics can fill, in CSV order."""
    columns = []
    for metric in MEAN_METRICS:
        columns += [f"{metric.column}_ci_low", f"{metric.column}_ci_high"] + estimate_columns(f"{metric.column}_diff")
    columns += [f"{TOXICITY_RATIO[1]}_paired", f"{TOXICITY_RATIO[1]}_ci_low", f"{TOXICITY_RATIO[1]}_ci_high"]
    for metric in PPL_METRICS:
        columns += [f"{metric.column}_ci_low", f"{metric.column}_ci_high"] + estimate_columns(f"{metric.column}_ratio")
    for task in ZEROSHOT_TASKS:
        columns += estimate_columns(f"{task}_diff") + [f"{task}_mcnemar_p"]
    columns += estimate_columns(f"{ZEROSHOT_AVERAGE}_diff") + [f"{ZEROSHOT_AVERAGE}_p"]
    return columns


def p_column(prefix: str) -> str:
    """The test's column of a zero-shot difference: McNemar per task, the sign-flip test for the average."""
    return f"{prefix}_p" if prefix == ZEROSHOT_AVERAGE else f"{prefix}_mcnemar_p"


TEXT_COLUMNS = ("zeroshot_avg_diff_tasks", "toxicity_verdict", "abilities_verdict", "paired_notes")
