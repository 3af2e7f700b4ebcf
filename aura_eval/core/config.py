"""The method vocabulary, in one place: which intervention, with which k and alpha, under which label.

`InterventionConfig` is torch-free so that the state file, the `aura-hf` model arguments, `compare`'s
variant names and the CLI all parse, validate and name a method the same way (peft's `XConfig`).

    InterventionConfig.parse("damp-k500-a0.3")  ->  InterventionConfig(method="damp", k=500, alpha=0.3)
    InterventionConfig("det_zero", k=200).label ->  "det_zero-k200"
    InterventionConfig.parse("aura-s0.5")      ->  InterventionConfig(method="aura", strength=0.5)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from aura_eval.core.names import BASE_VARIANT

METHODS = ("aura", "damp", "det_zero", "none")
DEFAULT_DAMP_ALPHA = 0.5
BASE_LABEL = BASE_VARIANT  # the label of method "none": the unmodified model

_LABEL = re.compile(r"^(?P<method>base|none|aura|damp|det_zero)(?:-k(?P<k>\d+))?(?:-a(?P<alpha>[0-9.]+))?"
                    r"(?:-s(?P<strength>[0-9.]+))?$")


@dataclass(frozen=True)
class InterventionConfig:
    """One method and its parameters, validated on construction.

    - ``aura``: alphas from the AUROCs (no k, no alpha);
    - ``damp``: the top-``k`` units times ``alpha`` (default 0.5);
    - ``det_zero``: the top-``k`` units set to 0 (alpha is fixed at 0; any other alpha is refused);
    - ``none``: the unmodified model, labelled ``base``.

    ``strength`` s in [0, 1] (default 1, apple/ml-act's strength) scales every method: each alpha becomes
    ``1 - s * (1 - alpha)``, so s=0 is the unmodified model and s=1 the method itself; the label gets
    ``-s<S>`` below 1 (``aura-s0.5``, ``damp-k500-a0.5-s0.5``).
    """

    method: str = "aura"
    k: int | None = None
    alpha: float | None = None
    strength: float = 1.0

    def __post_init__(self) -> None:
        method, k, alpha, strength = self.method, self.k, self.alpha, self.strength
        if method == BASE_LABEL:
            method = "none"
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if k is not None:
            if isinstance(k, bool) or not isinstance(k, (int, str)) or not str(k).strip().isdigit() or int(k) < 1:
                raise ValueError(f"k must be a whole number >= 1 (the number of units to change), got {k!r}")
            k = int(k)
        if alpha is not None:
            try:
                alpha = float(alpha)
            except (TypeError, ValueError):
                raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}") from None
            if isinstance(self.alpha, bool) or not math.isfinite(alpha) or not 0.0 <= alpha <= 1.0:
                raise ValueError(f"alpha must be a number in [0, 1], got {self.alpha!r}")
        try:
            strength = float(strength)
        except (TypeError, ValueError):
            raise ValueError(f"strength must be a number in [0, 1], got {self.strength!r}") from None
        if isinstance(self.strength, bool) or not math.isfinite(strength) or not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be a number in [0, 1], got {self.strength!r}")
        if method == "none" and strength != 1.0:
            raise ValueError("method=none is the unmodified model and takes no strength")
        if method in ("aura", "none") and (k is not None or alpha is not None):
            raise ValueError(f"method={method} takes no k or alpha (aura's alphas come from the AUROCs)")
        if method in ("damp", "det_zero") and k is None:
            raise ValueError(f"method={method} needs k, the number of top-AUROC units to change")
        if method == "det_zero":
            if alpha not in (None, 0.0):
                raise ValueError(f"method=det_zero sets units to 0 and takes no alpha (got {alpha:g}); use method=damp")
            alpha = 0.0
        if method == "damp" and alpha is None:
            alpha = DEFAULT_DAMP_ALPHA
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "strength", strength)

    @classmethod
    def parse(cls, text: str) -> InterventionConfig:
        """From a label: ``base``, ``aura``, ``damp-k<K>[-a<ALPHA>]``, ``det_zero-k<K>``, each but base
        with an optional ``-s<STRENGTH>`` (e.g. ``aura-s0.5``)."""
        match = _LABEL.match(str(text).strip())
        if not match:
            raise ValueError(
                f"bad variant {text!r}: use base, aura, damp-k<K>[-a<ALPHA>] or det_zero-k<K>, with an optional "
                "-s<STRENGTH> in [0, 1] (e.g. damp-k500-a0.5, aura-s0.5)"
            )
        try:
            strength = 1.0 if match["strength"] is None else match["strength"]
            return cls(match["method"], match["k"], match["alpha"], strength)
        except ValueError as error:
            raise ValueError(f"bad variant {text!r}: {error}") from None

    @property
    def label(self) -> str:
        """The short, stable name in result folders and leaderboards, e.g. ``damp-k500-a0.5``."""
        if self.method == "damp":
            name = f"damp-k{self.k}-a{self.alpha:g}"
        elif self.method == "det_zero":
            name = f"det_zero-k{self.k}"
        else:
            name = BASE_LABEL if self.method == "none" else self.method
        # fixed-point, never 1e-05: the label must parse back
        strength = f"{self.strength:.10f}".rstrip("0").rstrip(".") or "0"
        return name if self.strength == 1.0 else f"{name}-s{strength}"

    def to_dict(self) -> dict:
        return {"method": self.method, "k": self.k, "alpha": self.alpha, "strength": self.strength}
