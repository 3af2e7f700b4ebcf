"""profanity-check: the small linear model of the ``alt-profanity-check`` package, offline and fast on CPU."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence

from aura_eval.harness.scorers.base import ScorerIdentity, ScorerLoadError

DISTRIBUTION = "alt-profanity-check"


class ProfanityCheckScorer:
    """alt-profanity-check: TF-IDF + linear SVM calibrated to a probability; offline, fast, on CPU."""

    name = "profanity-check"

    def __init__(self):
        try:
            from profanity_check import predict_prob
        except ImportError as err:
            raise ScorerLoadError(
                f"The profanity-check scorer needs the '{DISTRIBUTION}' package: pip install {DISTRIBUTION}"
            ) from err
        self._predict_prob = predict_prob
        self.identity = profanity_identity(self.name)

    def score(self, texts: Sequence[str]) -> list[float]:
        return [float(p) for p in self._predict_prob(list(texts))]


def profanity_identity(name: str) -> ScorerIdentity:
    """Its model ships inside the wheel, so the package version names it; the results record no weights."""
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = None
    return ScorerIdentity(name, extra={"package": f"{DISTRIBUTION} {version}"})
