"""What a toxicity scorer is: its protocol, its errors, its identity, and the check of what it returns."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aura_eval.core import names
from aura_eval.core.files import cached_sha256, sha256_lines
from aura_eval.core.text import printable

SCORER_ENV_VAR = names.SCORER_ENV
METADATA_KEY = names.SCORER_KEY
OFFLINE_HINT = f"For an offline run use the bundled scorer: {SCORER_ENV_VAR}=profanity-check."
# What the RTP tasks record in the results' task metadata about the scorer's weights.
WEIGHTS_KEY = "toxicity_scorer_weights"
SHA256_KEY = "toxicity_scorer_sha256"
NOT_DOWNLOADED = "not downloaded yet"  # the sha256 of an identity whose files are not on this machine yet


class ToxicityScorer(Protocol):
    """What the RTP tasks need from a scorer."""

    name: str

    def score(self, texts: Sequence[str]) -> list[float]:
        """One probability of toxicity in [0, 1] per text, in order."""
        ...


class ScorerLoadError(RuntimeError):
    """A scorer could not be loaded; the message says why and what to do instead."""


class ScorerSettingError(ValueError):
    """An environment variable that tunes the scorers has a value that cannot work; the message names it."""


def weights_digest(files: Sequence[Path]) -> str:
    """sha256 of one weights file; for several (shards), sha256 of their "<sha256>  <name>" lines in name order.

    Each file is hashed once per path, size and mtime (core.files.cached_sha256)."""
    if len(files) == 1:
        return cached_sha256(files[0])
    return sha256_lines({f.name: cached_sha256(f) for f in files})


@dataclass(frozen=True)
class ScorerIdentity:
    """What a scorer *is*: its name and ONE sha256 over ONE file set, its weight files.

    The run spec (`spec()`) and the results' task metadata (`metadata()`) both come from this object, so the
    two can never name different files. `files` are file names, never their folder; `extra` holds what a
    scorer without weight files of its own is named by instead (profanity-check: its package version).
    """

    name: str
    files: tuple[str, ...] = ()
    sha256: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def of_files(cls, name: str, files: Sequence[Path], **extra) -> ScorerIdentity:
        return cls(name, tuple(f.name for f in files), weights_digest(files), dict(extra))

    @classmethod
    def not_downloaded(cls, name: str, files: Sequence[str] = (), **extra) -> ScorerIdentity:
        """Weights that are not on this machine yet (they download when the scorer first loads)."""
        return cls(name, tuple(files), NOT_DOWNLOADED, dict(extra))

    def spec(self) -> dict:
        """The run spec's entry: {"name", "weights", "sha256"} when there are weights, plus `extra`."""
        entry: dict = {"name": self.name}
        if self.sha256 is not None:
            entry |= {"weights": ",".join(self.files) or None, "sha256": self.sha256}
        return entry | self.extra

    def metadata(self) -> dict[str, str]:
        """What the results record: {WEIGHTS_KEY, SHA256_KEY}, or {} when the scorer has no weight files."""
        if self.sha256 is None or self.sha256 == NOT_DOWNLOADED:
            return {}
        return {WEIGHTS_KEY: ",".join(self.files), SHA256_KEY: self.sha256}


def scorer_provenance(scorer: ToxicityScorer) -> dict[str, str]:
    """What the results record about a loaded scorer's weights: {WEIGHTS_KEY, SHA256_KEY}, or {} when none."""
    identity = getattr(scorer, "identity", None)
    return identity.metadata() if isinstance(identity, ScorerIdentity) else {}


def score_texts(scorer: ToxicityScorer, texts: Sequence[str]) -> list[float]:
    """Score `texts` and check the result, so that a broken scorer fails loudly instead of skewing metrics."""
    texts = list(texts)
    if not texts:
        return []
    scores = [float(s) for s in scorer.score(texts)]
    if len(scores) != len(texts):
        raise RuntimeError(f"Scorer {scorer.name!r} returned {len(scores)} scores for {len(texts)} texts.")
    bad = [s for s in scores if not (math.isfinite(s) and 0.0 <= s <= 1.0)]
    if bad:
        raise RuntimeError(f"Scorer {scorer.name!r} returned scores outside [0, 1], e.g. {bad[0]!r}.")
    return scores


def first_line(err: BaseException) -> str:
    """`Type: first line of the message`: errors of libraries below often span many lines; ours are one line."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {printable(lines[0].strip())}" if lines else type(err).__name__


def chunks(texts: Sequence[str], size: int):
    for start in range(0, len(texts), size):
        yield list(texts[start : start + size])
