"""stats.py against slow, obvious references: a Python-loop bootstrap drawing the same indices, scipy's
binomial test for McNemar, and verdicts on synthetic data whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from aura_eval.report import stats

# ----------------------------------------------------------------------------- slow references


def loop_percentile(values: list[float], q: float) -> float:
    """Sorted list, linear interpolation between the two nearest ranks (numpy's default quantile)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    below, above = math.floor(position), math.ceil(position)
    low, high, fraction = ordered[below], ordered[above], position - below
    if low == high:
        return low
    return high - (high - low) * (1 - fraction) if fraction >= 0.5 else low + (high - low) * fraction


def loop_interval(draws: list[float]) -> tuple[float, float]:
    return loop_percentile(draws, 0.025), loop_percentile(draws, 0.975)


def loop_bootstrap(base, variant, resamples: int, seed: int, task: str):
    """One resample at a time: draw n indices, average each side in plain Python."""
    rng = stats.task_rng(seed, task)
    n = len(base)
    differences, ratios = [], []
    for _ in range(resamples):
        indices = rng.integers(0, n, size=n)
        base_mean = sum(float(base[i]) for i in indices) / n
        variant_mean = sum(float(variant[i]) for i in indices) / n
        differences.append(variant_mean - base_mean)
        ratios.append(base_mean / variant_mean if variant_mean else math.inf)
    return loop_interval(differences), loop_interval(ratios)


def loop_perplexity_ratio(base_ll, words, variant_ll, resamples: int, seed: int, task: str):
    rng = stats.task_rng(seed, task)
    n = len(base_ll)
    draws = []
    for _ in range(resamples):
        indices = rng.integers(0, n, size=n)
        total_words = sum(float(words[i]) for i in indices)
        base_ppl = math.exp(-sum(float(base_ll[i]) for i in indices) / total_words)
        variant_ppl = math.exp(-sum(float(variant_ll[i]) for i in indices) / total_words)
        draws.append(variant_ppl / base_ppl)
    return loop_interval(draws)


# ----------------------------------------------------------------------------- the bootstrap


def test_paired_bootstrap_matches_a_python_loop_with_the_same_draws():
    rng = np.random.default_rng(0)
    base = (rng.random(150) < 0.5).astype(float)
    variant = np.where(rng.random(150) < 0.3, 0.0, base)
    result = stats.paired_bootstrap(base, variant, resamples=2000, seed=7, task="aura_rtp")
    (diff_low, diff_high), (ratio_low, ratio_high) = loop_bootstrap(base, variant, 2000, 7, "aura_rtp")
    difference, ratio = result["difference"], result["ratio"]
    assert (difference.low, difference.high) == pytest.approx((diff_low, diff_high), rel=1e-12, abs=1e-15)
    assert (ratio.low, ratio.high) == pytest.approx((ratio_low, ratio_high), rel=1e-12)
    assert difference.value == pytest.approx(variant.mean() - base.mean(), abs=1e-15)
    assert ratio.value == pytest.approx(base.mean() / variant.mean())
    assert difference.low < difference.value < difference.high and difference.n == 150


def test_resampling_in_blocks_draws_what_one_matrix_draws(monkeypatch):
    values = np.random.default_rng(1).random((37, 3))
    whole = stats.resample_sums(values, 500, stats.task_rng(3, "t"))
    monkeypatch.setattr(stats, "BLOCK_ELEMENTS", 37 * 7)  # blocks of 7 resamples
    blocked = stats.resample_sums(values, 500, stats.task_rng(3, "t"))
    indices = stats.task_rng(3, "t").integers(0, 37, size=(500, 37))
    reference = np.array([[values[row, column].sum() for column in range(3)] for row in indices])
    np.testing.assert_allclose(blocked, whole, rtol=1e-13)
    np.testing.assert_allclose(whole, reference, rtol=1e-12)


def test_same_seed_same_interval_and_the_seed_matters():
    rng = np.random.default_rng(2)
    base, variant = rng.random(80), rng.random(80)
    first = stats.paired_bootstrap(base, variant, 1000, seed=1, task="piqa")["difference"]
    again = stats.paired_bootstrap(base, variant, 1000, seed=1, task="piqa")["difference"]
    other = stats.paired_bootstrap(base, variant, 1000, seed=2, task="piqa")["difference"]
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)


def test_percentile_interval_is_numpy_linear_quantile_and_keeps_infinity():
    draws = np.random.default_rng(3).normal(size=(999, 4))
    low, high = stats.percentile_interval(draws)
    np.testing.assert_array_equal(low, np.quantile(draws, 0.025, axis=0))
    np.testing.assert_array_equal(high, np.quantile(draws, 0.975, axis=0))
    ratios = np.array([1.0] * 90 + [math.inf] * 10)  # a tenth of the resamples divide by zero
    low, high = stats.percentile_interval(ratios[:, None])
    assert low[0] == 1.0 and high[0] == math.inf
    low, high = stats.percentile_interval(np.array([[1.0], [math.nan], [2.0]]))  # 0/0: no interval
    assert math.isnan(low[0]) and math.isnan(high[0])


def test_perplexity_ratio_matches_a_python_loop_and_lm_eval_on_the_full_sample():
    rng = np.random.default_rng(4)
    words = rng.integers(20, 400, size=60).astype(float)
    base_ll = -words * rng.uniform(2.0, 4.0, size=60)
    variant_ll = base_ll - words * rng.uniform(0.0, 0.2, size=60)
    sums = stats.resample_sums(np.column_stack([base_ll, words, variant_ll, words]), 1500, stats.task_rng(5, "ppl"))
    estimate = stats.perplexity_ratio(base_ll, words, variant_ll, words, sums)
    low, high = loop_perplexity_ratio(base_ll, words, variant_ll, 1500, 5, "ppl")
    assert (estimate.low, estimate.high) == pytest.approx((low, high), rel=1e-10)
    # lm-eval's weighted_perplexity: exp(-sum(loglik) / sum(words)), here exactly
    lm_eval_base = math.exp(-sum(base_ll.tolist()) / sum(words.tolist()))
    assert stats.weighted_perplexity(base_ll, words) == lm_eval_base
    assert estimate.value == math.exp(-sum(variant_ll.tolist()) / sum(words.tolist())) / lm_eval_base
    assert 1.0 < estimate.low < estimate.value < estimate.high  # the variant adds NLL on every document


def test_ratio_over_a_zero_mean_is_infinite_and_zero_over_zero_is_one():
    """A variant with no toxic continuation is infinitely less toxic; resamples where both rows have none count
    as 1x (equally non-toxic), so the interval has bounds: here every resample is inf or 1."""
    ratio = stats.paired_bootstrap([1, 0, 1], [0, 0, 0], 1000)["ratio"]
    assert ratio.value == math.inf and ratio.high == math.inf and 1.0 <= ratio.low
    draws = stats.toxicity_ratio(np.array([2.0, 0.0, 0.0, 3.0]), np.array([0.0, 0.0, 1.0, 1.5]))
    assert draws.tolist() == [math.inf, 1.0, 0.0, 2.0]
    assert stats.paired_bootstrap([0, 0, 0], [1, 0, 0], 100)["ratio"].value == 0.0


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="one length"):
        stats.paired_bootstrap([1, 0], [1, 0, 1], 10)
    with pytest.raises(ValueError, match="non-empty"):
        stats.resample_sums(np.empty((0, 2)), 10, stats.task_rng(0, "t"))


# ----------------------------------------------------------------------------- McNemar


@pytest.mark.parametrize("only_base, only_variant", [(0, 0), (0, 1), (1, 0), (3, 3), (2, 9), (9, 2), (17, 40),
                                                     (400, 350), (1000, 1100), (0, 25)])
def test_mcnemar_equals_scipy_binomtest(only_base, only_variant):
    both = 30  # concordant documents do not matter
    base = [1] * only_base + [0] * only_variant + [1] * both + [0] * both
    variant = [0] * only_base + [1] * only_variant + [1] * both + [0] * both
    expected = 1.0 if only_base + only_variant == 0 else binomtest(only_base, only_base + only_variant, 0.5).pvalue
    assert stats.mcnemar_exact(base, variant) == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_binary_check():
    assert stats.is_binary(np.array([0.0, 1.0, 1.0]))
    assert not stats.is_binary(np.array([0.0, 0.4]))  # TruthfulQA MC2 scores a probability


# ----------------------------------------------------------------------------- verdicts on known answers


def accuracy_pair(n: int, flips_down: float, flips_up: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Base right on ~60%; the variant turns a share of right answers wrong and of wrong answers right."""
    rng = np.random.default_rng(seed)
    base = (rng.random(n) < 0.6).astype(float)
    flip = rng.random(n)
    variant = base.copy()
    variant[(base == 1) & (flip < flips_down)] = 0
    variant[(base == 0) & (flip < flips_up)] = 1
    return base, variant


def ability(base, variant, margin=stats.DEFAULT_MARGIN) -> str:
    return stats.ability_verdict(stats.paired_bootstrap(base, variant, 2000, task="piqa")["difference"], margin)


def test_abilities_kept_lost_inconclusive():
    assert ability(*accuracy_pair(3000, 0.01, 0.015, seed=0)) == stats.KEPT  # ~ +0.1 point, tight interval
    assert ability(*accuracy_pair(3000, 0.12, 0.0, seed=1)) == stats.LOST  # ~ -7 points
    assert ability(*accuracy_pair(60, 0.1, 0.15, seed=2)) == stats.INCONCLUSIVE  # 60 documents: too few


def test_margin_moves_the_verdict():
    base, variant = accuracy_pair(3000, 0.05, 0.0, seed=3)  # about -3 points, interval about +-1 point
    assert ability(base, variant, margin=0.01) == stats.LOST
    assert ability(base, variant, margin=0.10) == stats.KEPT


def test_verdict_boundaries():
    estimate = stats.Estimate(0.0, -0.01, 0.02, 10)
    assert stats.ability_verdict(estimate, 0.01) == stats.INCONCLUSIVE  # touching -margin is not above it
    assert stats.ability_verdict(stats.Estimate(-0.05, -0.08, -0.01, 10), 0.01) == stats.INCONCLUSIVE
    assert stats.ability_verdict(stats.Estimate(-0.05, -0.08, -0.0101, 10), 0.01) == stats.LOST
    assert stats.ability_verdict(None) == "" and stats.toxicity_verdict(None) == ""
    assert stats.toxicity_verdict(stats.Estimate(math.nan, math.nan, math.nan, 0)) == ""


def test_toxicity_less_more_not_significant():
    rng = np.random.default_rng(5)
    base = (rng.random(1000) < 0.6).astype(float)
    less = np.where(rng.random(1000) < 0.5, 0.0, base)  # half of the toxic prompts become non-toxic
    more = np.maximum(base, (rng.random(1000) < 0.3).astype(float))
    same = base.copy()  # as many prompts turn toxic as turn non-toxic
    same[np.flatnonzero(base == 1)[:15]] = 0
    same[np.flatnonzero(base == 0)[:15]] = 1
    verdict = {name: stats.toxicity_verdict(stats.paired_bootstrap(base, v, 2000)["difference"])
               for name, v in (("less", less), ("more", more), ("same", same))}
    assert verdict == {"less": stats.LESS_TOXIC, "more": stats.MORE_TOXIC, "same": stats.NOT_SIGNIFICANT}


# ----------------------------------------------------------------------------- the sign-flip test of a mean over tasks


def enumerated_sign_flip_p(differences: list[list[float]]) -> float:
    """Every one of the 2^n sign assignments of the nonzero differences, counted in plain Python."""
    import itertools

    tasks = len(differences)
    observed = sum(sum(d) / len(d) for d in differences) / tasks
    cells = [(t, value) for t, d in enumerate(differences) for value in d if value != 0]
    extreme = 0
    for signs in itertools.product((1, -1), repeat=len(cells)):
        total = sum(sign * value / (len(differences[t]) * tasks) for sign, (t, value) in zip(signs, cells))
        extreme += abs(total) >= abs(observed) - 1e-12
    return extreme / 2 ** len(cells)


@pytest.mark.parametrize("differences", [
    [[1, 0, 1, -1, 1], [1, 1, 0, 1, 0, 0, 1, -1, 0, 0, 1]],  # right/wrong, tasks of other sizes
    [[0.3, -0.1, 0.25, 0.0, 0.4], [-0.2, 0.05, 0.6, 0.1]],  # probabilities (TruthfulQA MC2) in the mix
    [[1, -1, 1, 1, 0], [0.5, 0.2, -0.3, 0.9]],
])
def test_sign_flip_p_matches_enumerating_every_sign(differences):
    exact = enumerated_sign_flip_p(differences)
    resamples = 200_000
    p = stats.sign_flip_p([np.array(d, dtype=float) for d in differences], resamples, np.random.default_rng(3))
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / resamples) + 2 / resamples


def test_sign_flip_p_of_equal_sized_right_wrong_tasks_is_the_pooled_exact_mcnemar():
    base = [np.array([1, 1, 0, 1, 0, 1, 1, 0]), np.array([0, 1, 1, 1, 0, 0, 1, 1])]
    variant = [np.array([0, 1, 0, 0, 0, 1, 0, 0]), np.array([0, 0, 1, 1, 1, 0, 0, 1])]
    p = stats.sign_flip_p([v - b for b, v in zip(base, variant)], 100, np.random.default_rng(0))
    assert p == pytest.approx(stats.mcnemar_exact(np.concatenate(base), np.concatenate(variant)), rel=1e-12)
    assert p == pytest.approx(enumerated_sign_flip_p([(v - b).tolist() for b, v in zip(base, variant)]), rel=1e-12)
    assert stats.sign_flip_p([np.zeros(5), np.zeros(3)], 100, np.random.default_rng(0)) == 1.0
