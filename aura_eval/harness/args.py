"""aura-hf's own model arguments, parsed strictly before the model loads.

lm-eval turns `true` / `false` (any case) into Python booleans, `none` / `None` into None and digits into
numbers; every other value reaches the model as a string (and the JSON form of `--model_args` gives any
JSON type). A value `bool()` or `float()` would take but that means nothing here (`fold=maybe`,
`shared_prefill=off`, `strength=1.5`) is a one-line error naming the argument and what it accepts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from aura_eval.core.config import InterventionConfig

TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")
NO_FILE = ("none", "", "base")  # intervention=<one of these>: no state file, the bare model
NO_METHOD = ("none", "base")  # method=<one of these> (or Python None): the bare model
UNSET = object()  # `method` not given at all (None is a value: lm-eval makes it from `method=None`)


class ArgumentError(ValueError):
    """A bad aura-hf model argument; the message is one line starting with `aura-hf: <name>=<value>`."""


def flag(name: str, value) -> bool:
    """true/false (any case), 1/0, yes/no, or a Python bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise ArgumentError(f"aura-hf: {name}={value!r}: expected true/false, 1/0 or yes/no")


def whole(name: str, value, minimum: int = 1) -> int:
    """A whole number >= minimum, from an int or its decimal digits."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, bool) or not (isinstance(text, int) or (isinstance(text, str) and text.isdigit())) or int(text) < minimum:
        raise ArgumentError(f"aura-hf: {name}={value!r}: expected a whole number >= {minimum}")
    return int(text)


def unit_number(name: str, value) -> float:
    """A finite number in [0, 1], from a number or its text."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise ArgumentError(f"aura-hf: {name}={value!r}: expected a number in [0, 1]")
    return number


@dataclass(frozen=True)
class AuraArgs:
    """The parsed arguments. `method`, `k`, `alpha` None: not given (the state file's own method)."""

    intervention: str | None
    method: str | None
    k: int | None
    alpha: float | None
    strength: float | None
    fold: bool
    shared_prefill: bool
    fast_sampling: bool
    gguf_cache: bool
    rolling_batch_size: int | None

    @property
    def bare(self) -> bool:
        """Nothing is applied: no state file, or method none."""
        return self.intervention is None or self.method == "none"

    def config(self, stored: InterventionConfig) -> InterventionConfig:
        """What to apply, given the state file's own method `stored`: the method asked for (aura when only
        k or alpha is given), else the stored one; at the strength asked for, else the stored one."""
        given = self.method is not None or self.k is not None or self.alpha is not None
        config = InterventionConfig(self.method or "aura", self.k, self.alpha) if given else stored
        try:
            return replace(config, strength=self.strength) if self.strength is not None else config
        except ValueError as e:
            raise ArgumentError(f"aura-hf: {e}") from None


def parse_args(intervention=None, method=UNSET, k=None, alpha=None, strength=None, fold=True, shared_prefill=True,
               fast_sampling=True, gguf_cache=True, rolling_batch_size=None) -> AuraArgs:
    """Check and convert every aura-hf argument; raise `ArgumentError` (one line) on the first bad one."""
    path = None if intervention is None or str(intervention).strip().lower() in NO_FILE else str(intervention)
    if method is UNSET:
        method = None
    elif method is None or str(method).strip().lower() in NO_METHOD:
        method = "none"
    else:
        method = str(method).strip().lower()
    k = None if k is None else whole("k", k)
    alpha = None if alpha is None else unit_number("alpha", alpha)
    strength = None if strength is None else unit_number("strength", strength)
    if path is None and method not in (None, "none"):
        raise ArgumentError(f"aura-hf: method={method}: needs intervention=<state file> (the learned AUROCs)")
    if path is None and (k is not None or alpha is not None or strength is not None):
        raise ArgumentError("aura-hf: k, alpha and strength need intervention=<state file>")
    if method is not None or k is not None or alpha is not None:
        try:  # the method's own checks (k for damp, no alpha for det_zero, ...) before the model loads
            InterventionConfig(method or "aura", k, alpha, 1.0 if strength is None else strength)
        except ValueError as e:
            raise ArgumentError(f"aura-hf: {e}") from None
    return AuraArgs(
        intervention=path, method=method, k=k, alpha=alpha, strength=strength, fold=flag("fold", fold),
        shared_prefill=flag("shared_prefill", shared_prefill), fast_sampling=flag("fast_sampling", fast_sampling),
        gguf_cache=flag("gguf_cache", gguf_cache),
        rolling_batch_size=None if rolling_batch_size is None else whole("rolling_batch_size", rolling_batch_size),
    )
