"""The paper's toxicity vs perplexity figure as data: each method's variants as a curve, and the
non-dominated points (plots.py draws them).

A variant's method and parameters come from its name (`InterventionConfig.parse`: `aura`, `aura-s0.5`,
`damp-k500-a0.5`, `det_zero-k200`, ...). A curve is one method's variants that differ in one parameter:
the one whose other parameters are shared by the most variants (strength first, then k, then alpha on a
tie), ordered by how strongly it intervenes (strength up, k up, alpha down). A point is non-dominated when no
other point of its panel has both a toxicity and a perplexity as low or lower, one of them strictly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aura_eval.core.config import InterventionConfig

PARAMETERS = ("strength", "k", "alpha")  # the order a tie between curve parameters is broken in


@dataclass(frozen=True)
class Point:
    variant: str
    method: str
    k: int | None
    alpha: float | None
    strength: float
    x: float  # perplexity on non-toxic text
    y: float  # toxicity probability


@dataclass(frozen=True)
class Curve:
    method: str
    parameter: str  # what varies along it: "strength", "k" or "alpha" ("" for a single point)
    points: tuple[Point, ...]  # in dose order


def parse_variant(name: str) -> tuple[InterventionConfig, float] | None:
    """(config, strength) of a variant name, or None for a name that is not a method label (aura-folded, ...)."""
    try:
        config = InterventionConfig.parse(name)
    except ValueError:
        return None
    return config, config.strength


def points_of(rows) -> list[Point]:
    """The method variants among `rows` (records with variant, x, y), base and unknown names left out."""
    points = []
    for row in rows:
        parsed = parse_variant(str(row["variant"]))
        x, y = float(row["x"]), float(row["y"])
        if parsed is None or parsed[0].method == "none" or math.isnan(x) or math.isnan(y):
            continue
        config, strength = parsed
        points.append(Point(str(row["variant"]), config.method, config.k, config.alpha, strength, x, y))
    return points


def dose(point: Point, parameter: str) -> float:
    """How strongly a point intervenes along `parameter` (alpha 1 changes nothing, alpha 0 zeroes)."""
    value = getattr(point, parameter)
    return -value if parameter == "alpha" else value


def curves(points: list[Point]) -> list[Curve]:
    """Each method's points as curves (see the module docstring), methods in first-seen order."""
    out = []
    for method in dict.fromkeys(point.method for point in points):
        remaining = [point for point in points if point.method == method]
        while remaining:
            best = None
            for parameter in PARAMETERS:
                others = [name for name in PARAMETERS if name != parameter]
                groups: dict[tuple, list[Point]] = {}
                for point in remaining:
                    groups.setdefault(tuple(getattr(point, name) for name in others), []).append(point)
                group = max(groups.values(), key=len)
                if best is None or len(group) > len(best[1]):
                    best = (parameter, group)
            parameter, group = best
            ordered = tuple(sorted(group, key=lambda point: (dose(point, parameter), point.variant)))
            out.append(Curve(method, parameter if len(ordered) > 1 else "", ordered))
            remaining = [point for point in remaining if point not in group]
    return out


def non_dominated(points: list[tuple[float, float]]) -> list[bool]:
    """Per point (x, y), lower is better on both: is no other point as good on both and better on one?

    Sorted by x then y, a point is non-dominated when its y is below every y before it, or it ties the
    best point before it exactly (equal points do not dominate each other).
    """
    order = sorted(range(len(points)), key=lambda i: points[i])
    keep = [False] * len(points)
    best: tuple[float, float] | None = None
    for i in order:
        x, y = points[i]
        if best is None or y < best[1] or (x, y) == best:
            keep[i] = True
            if best is None or y < best[1]:
                best = (x, y)
    return keep
