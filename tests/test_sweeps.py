"""Sweeps in the Pareto plot (issue 24.3): curves in dose order and the non-dominated points, against slow references."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from aura_eval.report import plots, sweeps
from aura_eval.report.plots import plot_pareto


@pytest.mark.parametrize("name, expected", [
    ("aura", ("aura", None, None, 1.0)),
    ("aura-s0.5", ("aura", None, None, 0.5)),
    ("aura-s0", ("aura", None, None, 0.0)),
    ("damp-k500-a0.3", ("damp", 500, 0.3, 1.0)),
    ("damp-k500-a0.5-s0.25", ("damp", 500, 0.5, 0.25)),
    ("det_zero-k200", ("det_zero", 200, 0.0, 1.0)),
    ("base", ("none", None, None, 1.0)),
])
def test_variant_names_are_read_with_their_strength(name, expected):
    config, strength = sweeps.parse_variant(name)
    assert (config.method, config.k, config.alpha, strength) == expected


@pytest.mark.parametrize("name", ["aura-folded", "aura-s1.5", "custom", "base-s0.5"])
def test_other_names_are_no_method_point(name):
    assert sweeps.parse_variant(name) is None


VARIANTS = ["aura", "aura-s0.75", "aura-s0.25", "aura-s0.5", "damp-k2000-a0.5", "damp-k100-a0.5", "damp-k500-a0.5",
            "damp-k500-a0.2", "damp-k500-a0.8", "det_zero-k100", "det_zero-k50", "det_zero-k2000", "base",
            "aura-folded"]
# Worked out by hand from the rule: per method, the parameter whose curve holds the most variants (strength,
# then k, then alpha on a tie), in dose order (strength up, k up, alpha down); the rest make further curves.
EXPECTED = [
    ("aura", "strength", ["aura-s0.25", "aura-s0.5", "aura-s0.75", "aura"]),
    ("damp", "k", ["damp-k100-a0.5", "damp-k500-a0.5", "damp-k2000-a0.5"]),
    ("damp", "alpha", ["damp-k500-a0.8", "damp-k500-a0.2"]),
    ("det_zero", "k", ["det_zero-k50", "det_zero-k100", "det_zero-k2000"]),
]


def curve_names(variants):
    rows = [{"variant": name, "x": 10.0 + i, "y": 0.5 - i / 100} for i, name in enumerate(variants)]
    return [(curve.method, curve.parameter, [point.variant for point in curve.points])
            for curve in sweeps.curves(sweeps.points_of(rows))]


def test_each_method_is_a_curve_in_dose_order():
    assert curve_names(VARIANTS) == EXPECTED


def test_the_curves_do_not_depend_on_the_order_of_the_rows():
    shuffled = list(VARIANTS)
    for seed in range(20):
        random.Random(seed).shuffle(shuffled)
        assert sorted(curve_names(shuffled)) == sorted(EXPECTED)


def test_a_lone_variant_is_a_curve_of_one_point():
    assert curve_names(["damp-k100-a0.5", "det_zero-k5"]) == [("damp", "", ["damp-k100-a0.5"]),
                                                              ("det_zero", "", ["det_zero-k5"])]


def brute_force_front(points):
    """Slow reference: a point is dominated when another is <= on both axes and different."""
    return [not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points) for p in points]


def test_non_dominated_points_equal_a_brute_force_check():
    rng = random.Random(0)
    for _ in range(300):
        points = [(float(rng.randint(0, 6)), float(rng.randint(0, 6))) for _ in range(rng.randint(1, 12))]
        assert sweeps.non_dominated(points) == brute_force_front(points), points


def test_the_plot_draws_the_curves_and_rings_the_front(tmp_path, monkeypatch):
    names = ["base", "aura", "aura-s0.5", "damp-k500-a0.5", "damp-k100-a0.5", "det_zero-k50"]
    ppl = [10.0, 11.0, 10.4, 12.0, 10.2, 10.1]
    tox = [0.50, 0.30, 0.40, 0.35, 0.45, 0.52]
    frame = pd.DataFrame({"model": "m", "variant": names, "ppl_nontoxic": ppl, "rtp_tox": tox})
    lines, rings = [], []
    real_plot, real_scatter = plots.plt.Axes.plot, plots.plt.Axes.scatter

    def plot(self, xs, ys, *args, **kwargs):
        lines.append((list(xs), list(ys)))
        return real_plot(self, xs, ys, *args, **kwargs)

    def scatter(self, xs, ys, *args, **kwargs):
        if kwargs.get("label") == "non-dominated":
            rings.extend(zip(xs, ys))
        return real_scatter(self, xs, ys, *args, **kwargs)

    monkeypatch.setattr(plots.plt.Axes, "plot", plot)
    monkeypatch.setattr(plots.plt.Axes, "scatter", scatter)
    plot_pareto(frame, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")
    # aura's curve runs s0.5 -> s1, damp's k100 -> k500; det_zero has one point, so no line
    assert lines == [([10.4, 11.0], [0.40, 0.30]), ([10.2, 12.0], [0.45, 0.35])]
    points = list(zip(ppl, tox))
    assert sorted(rings) == sorted(p for p, keep in zip(points, brute_force_front(points)) if keep)
    assert sorted(rings) == [(10.0, 0.5), (10.2, 0.45), (10.4, 0.4), (11.0, 0.3)]
