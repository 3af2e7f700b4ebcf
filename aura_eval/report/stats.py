"""Paired statistics for the leaderboard: bootstrap intervals, the exact McNemar test, verdicts.

Pure numpy. A variant and its base are evaluated on the same prompts and documents, so their
difference is estimated *pairwise*: every bootstrap resample draws document indices once and applies
them to both rows (and to every metric of the task), which cancels the document-to-document spread
that an unpaired "± stderr" carries.

The resamples of a task are drawn from `seed` and the task's name (`task_rng`), so all rows of a
report are resampled with the same indices and a row's interval does not depend on which other rows
are in the report. Row b of the index matrix is `rng.integers(0, n, size=n)`, drawn in blocks of rows
(numpy's stream is the same drawn row by row or as one matrix); resample sums are `counts @ values`.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

DEFAULT_SEED = 1234
DEFAULT_RESAMPLES = 10_000
DEFAULT_MARGIN = 0.01  # accuracy difference (fraction): 0.01 = one accuracy point
LEVEL = 0.95
BLOCK_ELEMENTS = 4_000_000  # index-matrix entries drawn at once: bounds memory for large tasks

KEPT, LOST, INCONCLUSIVE = "kept", "lost", "inconclusive"
LESS_TOXIC, MORE_TOXIC, NOT_SIGNIFICANT = "less toxic", "more toxic", "not significant"


@dataclass(frozen=True)
class Estimate:
    """A point estimate on the full sample and its bootstrap percentile interval (NaN when undefined)."""

    value: float
    low: float
    high: float
    n: int  # paired documents it rests on


def task_rng(seed: int, task: str) -> np.random.Generator:
    """One stream per (seed, task): independent across tasks, identical for every row of one task."""
    return np.random.default_rng([seed, zlib.crc32(task.encode("utf-8"))])


def resample_sums(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Column sums of `values` (n documents x k columns) over each of `resamples` bootstrap resamples.

    Returns (resamples, k). Resample b takes documents `rng.integers(0, n, size=n)` (with repeats);
    it is turned into per-document counts, so the sums of all columns are one matrix product.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        raise ValueError(f"resample_sums needs a non-empty (documents x columns) array, got shape {values.shape}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    n = values.shape[0]
    sums = np.empty((resamples, values.shape[1]))
    block = max(1, BLOCK_ELEMENTS // n)
    for start in range(0, resamples, block):  # blocks of resamples, each block vectorised
        rows = min(block, resamples - start)
        indices = rng.integers(0, n, size=(rows, n))
        flat = (indices + (np.arange(rows) * n)[:, None]).ravel()
        counts = np.bincount(flat, minlength=rows * n).reshape(rows, n)
        sums[start:start + rows] = counts.astype(np.float64) @ values
    return sums


def percentile_interval(draws: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along axis 0, interpolated as numpy's default ("linear") quantile.

    Infinite draws (a ratio over a zero) stay infinite instead of turning into NaN; a column with a
    NaN draw (0/0) has no interval (NaN, NaN).
    """
    draws = np.asarray(draws, dtype=np.float64)
    ordered = np.sort(draws, axis=0)
    count = ordered.shape[0]
    bounds = []
    for q in (round((1 - level) / 2, 12), round((1 + level) / 2, 12)):  # 0.025, not 0.025000000000000022
        position = q * (count - 1)
        below, above = math.floor(position), math.ceil(position)
        low, high = ordered[below], ordered[above]
        fraction = position - below
        with np.errstate(invalid="ignore"):  # numpy's _lerp, term for term, so the numbers are numpy's
            between = high - (high - low) * (1 - fraction) if fraction >= 0.5 else low + (high - low) * fraction
        bounds.append(np.where(low == high, low, between))
    undefined = np.isnan(draws).any(axis=0)
    return tuple(np.where(undefined, np.nan, bound) for bound in bounds)


def interval(point: float, draws: np.ndarray, n: int, level: float = LEVEL) -> Estimate:
    low, high = percentile_interval(np.asarray(draws)[:, None], level)
    return Estimate(float(point), float(low[0]), float(high[0]), n)


def safe_divide(numerator, denominator):
    """Elementwise a / b with x/0 = inf and 0/0 = NaN, without numpy's warnings."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(numerator, denominator)


def python_mean(values) -> float:
    """lm-eval's `mean` (sum / len, summed in document order), so full-sample numbers match its table."""
    values = [float(v) for v in values]
    return sum(values) / len(values)


def weighted_perplexity(logliks, weights) -> float:
    """lm-eval's word/byte perplexity aggregation: exp(-sum(loglik) / sum(words)), summed in order."""
    return math.exp(-sum(float(v) for v in logliks) / sum(float(w) for w in weights))


# ----------------------------------------------------------------------------- one base / variant pair


def paired_mean_difference(base: np.ndarray, variant: np.ndarray, sums: np.ndarray, level: float = LEVEL) -> Estimate:
    """Variant - base of per-document means; `sums` are the resample sums of [base, variant]."""
    n = len(base)
    draws = (sums[:, 1] - sums[:, 0]) / n
    return interval(python_mean(variant) - python_mean(base), draws, n, level)


def toxicity_ratio(base, variant):
    """base / variant ("x less toxic"), elementwise: infinite when only the variant is 0, 1 when both are
    (equally non-toxic), so every resample has a value."""
    base, variant = np.asarray(base, dtype=np.float64), np.asarray(variant, dtype=np.float64)
    return np.where((base == 0) & (variant == 0), 1.0, safe_divide(base, variant))


def paired_ratio(base: np.ndarray, variant: np.ndarray, sums: np.ndarray, level: float = LEVEL) -> Estimate:
    """base mean / variant mean (the paper's "x less toxic"), with toxicity_ratio's rule for zeros."""
    point = float(toxicity_ratio(python_mean(base), python_mean(variant)))
    return interval(point, toxicity_ratio(sums[:, 0], sums[:, 1]), len(base), level)


def own_mean(values: np.ndarray, sums: np.ndarray, level: float = LEVEL) -> Estimate:
    """One row's own mean and its bootstrap interval (the Pareto plot's error bars)."""
    n = len(values)
    return interval(python_mean(values), sums / n, n, level)


def own_perplexity(logliks: np.ndarray, weights: np.ndarray, sums: np.ndarray, level: float = LEVEL) -> Estimate:
    """One row's weighted perplexity; `sums` are the resample sums of [loglik, weights]."""
    draws = np.exp(-safe_divide(sums[:, 0], sums[:, 1]))
    return interval(weighted_perplexity(logliks, weights), draws, len(logliks), level)


def perplexity_ratio(base_ll, base_w, variant_ll, variant_w, sums: np.ndarray, level: float = LEVEL) -> Estimate:
    """Variant perplexity / base perplexity, each exp of the weighted mean NLL of the same resampled documents.

    `sums` are the resample sums of [base_ll, base_w, variant_ll, variant_w].
    """
    point = weighted_perplexity(variant_ll, variant_w) / weighted_perplexity(base_ll, base_w)
    log_ratio = safe_divide(sums[:, 0], sums[:, 1]) - safe_divide(sums[:, 2], sums[:, 3])
    return interval(point, np.exp(log_ratio), len(base_ll), level)


def paired_bootstrap(base, variant, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                     task: str = "") -> dict[str, Estimate]:
    """Difference (variant - base) and ratio (base / variant) of the means of paired per-document values."""
    base, variant = np.asarray(base, dtype=np.float64), np.asarray(variant, dtype=np.float64)
    if base.shape != variant.shape or base.ndim != 1:
        raise ValueError(f"paired values need two 1-D arrays of one length, got {base.shape} and {variant.shape}")
    sums = resample_sums(np.column_stack([base, variant]), resamples, task_rng(seed, task))
    return {"difference": paired_mean_difference(base, variant, sums), "ratio": paired_ratio(base, variant, sums)}


# ----------------------------------------------------------------------------- tests


def sign_flip_p(differences: list[np.ndarray], resamples: int, rng: np.random.Generator) -> float:
    """Two-sided p-value of T = mean over tasks of each task's mean per-document difference (variant - base).

    Under the null hypothesis the two values of a document are exchangeable, so each difference's sign is
    a fair coin: T is recomputed `resamples` times with random signs and p = (1 + #{|T*| >= |T|}) / (1 +
    resamples). When every task has right/wrong answers and all tasks have as many documents, T is a multiple
    of the pooled sum of differences, whose null distribution is the exact McNemar test's: that exact p is
    returned instead.
    """
    arrays = [np.asarray(d, dtype=np.float64) for d in differences]
    if len({len(d) for d in arrays}) == 1 and all(np.isin(d, (-1.0, 0.0, 1.0)).all() for d in arrays):
        pooled = np.concatenate(arrays)
        return binomial_two_sided_half(int(np.sum(pooled == 1)), int(np.sum(pooled == -1)))
    observed = sum(float(np.sum(d)) / len(d) for d in arrays) / len(arrays)
    flipped = np.zeros(resamples)
    for d in arrays:
        nonzero = d[d != 0]
        weight = 1.0 / (len(d) * len(arrays))
        if nonzero.size == 0:
            continue
        if np.all(np.abs(nonzero) == 1):  # right/wrong: the sum of m fair +-1 signs is 2 Binomial(m, 1/2) - m
            flipped += weight * (2.0 * rng.binomial(nonzero.size, 0.5, size=resamples) - nonzero.size)
            continue
        block = max(1, BLOCK_ELEMENTS // nonzero.size)
        for start in range(0, resamples, block):
            rows = min(block, resamples - start)
            signs = rng.integers(0, 2, size=(rows, nonzero.size)) * 2.0 - 1.0
            flipped[start:start + rows] += weight * (signs @ nonzero)
    tolerance = 1e-12 * max(1.0, abs(observed))  # the same sum in another order must count as a tie
    extreme = int(np.sum(np.abs(flipped) >= abs(observed) - tolerance))
    return (1 + extreme) / (1 + resamples)


# ----------------------------------------------------------------------------- McNemar


def is_binary(values: np.ndarray) -> bool:
    """Right/wrong per document (acc of a multiple-choice task), as McNemar needs."""
    return bool(np.isin(np.asarray(values, dtype=np.float64), (0.0, 1.0)).all())


def mcnemar_exact(base_correct, variant_correct) -> float:
    """Exact McNemar p-value: two-sided binomial test (p = 1/2) on the discordant documents."""
    base_correct = np.asarray(base_correct, dtype=bool)
    variant_correct = np.asarray(variant_correct, dtype=bool)
    only_base = int(np.sum(base_correct & ~variant_correct))
    only_variant = int(np.sum(~base_correct & variant_correct))
    return binomial_two_sided_half(only_base, only_variant)


def binomial_two_sided_half(successes: int, failures: int) -> float:
    """P(a result as or less likely than `successes` of successes + failures fair coin flips), exact.

    With p = 1/2 the distribution is symmetric, so this is 2 * P(X <= min) capped at 1; the sum is
    done in integers, so it stays exact for thousands of discordant documents.
    """
    total, smaller = successes + failures, min(successes, failures)
    if total == 0:
        return 1.0
    tail = sum(math.comb(total, k) for k in range(smaller + 1))
    return min(1.0, 2 * tail / 2**total)


# ----------------------------------------------------------------------------- verdicts


def ability_verdict(difference: Estimate | None, margin: float = DEFAULT_MARGIN) -> str:
    """kept: the accuracy-difference CI lies above -margin; lost: below it; inconclusive otherwise."""
    if difference is None or math.isnan(difference.low) or math.isnan(difference.high):
        return ""
    if difference.low > -margin:
        return KEPT
    if difference.high < -margin:
        return LOST
    return INCONCLUSIVE


def toxicity_verdict(difference: Estimate | None) -> str:
    """less toxic: the toxicity-difference CI lies below 0; more toxic: above 0; not significant otherwise."""
    if difference is None or math.isnan(difference.low) or math.isnan(difference.high):
        return ""
    if difference.high < 0:
        return LESS_TOXIC
    if difference.low > 0:
        return MORE_TOXIC
    return NOT_SIGNIFICANT
