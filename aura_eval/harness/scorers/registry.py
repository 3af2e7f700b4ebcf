"""The one registry of toxicity scorers, in the style of lm-eval's `api/registry.py`.

A scorer is registered under a name (``profanity-check``) or a name prefix (``hf:``, a family whose rest names
the model). Registering a taken name is an error unless `replace=True`; an unknown name is a one-line error
that lists the valid names and suggests the closest ones. Each entry knows how to load its scorer, how to
name its identity without loading it (`scorer_identity`); the registry's `env_key` says what besides the
name tells two loads apart (the local Detoxify files the environment names), so that a process loads each
scorer once per key.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from aura_eval.harness.scorers.base import ScorerIdentity, ScorerSettingError, ToxicityScorer

Loader = Callable[[str], ToxicityScorer]  # full scorer name -> loaded scorer


@dataclass(frozen=True)
class ScorerEntry:
    """How to load a scorer and how to name its identity without loading it."""

    load: Loader
    identity: Callable[[str], ScorerIdentity] | None = None  # None: the name is all there is


class ScorerRegistry:
    """Names and name prefixes -> ScorerEntry, plus the scorers this process has loaded."""

    def __init__(self, what: str = "toxicity scorer"):
        self._what = what
        self._names: dict[str, ScorerEntry] = {}
        self._families: dict[str, ScorerEntry] = {}  # prefix -> entry; the prefix alone names nothing
        self._family_help: dict[str, str] = {}
        self._loaded: dict[tuple, ToxicityScorer] = {}
        self._lock = threading.RLock()
        # name -> what the environment adds to the loaded instance's key; raises on a setting that cannot apply
        self.env_key: Callable[[str], tuple] = lambda name: ()

    def register(self, name: str, entry: ScorerEntry, *, replace: bool = False) -> None:
        family = self._family_of(name)
        if family is not None:
            raise ValueError(f"Names starting with {family!r} are reserved for the {self._family_help[family]} family.")
        with self._lock:
            if name in self._names and not replace:
                raise ValueError(f"Scorer {name!r} is already registered (pass replace=True to override it).")
            self._names[name] = entry
            self.forget(name)

    def register_family(self, prefix: str, entry: ScorerEntry, help_name: str) -> None:
        """Names `<prefix><rest>`: `help_name` is how the list of valid names shows the family."""
        with self._lock:
            if prefix in self._families:
                raise ValueError(f"The scorer family {prefix!r} is already registered.")
            clash = [name for name in self._names if name.startswith(prefix)]
            if clash:
                raise ValueError(f"The scorer family {prefix!r} would hide the registered scorer {clash[0]!r}.")
            self._families[prefix] = entry
            self._family_help[prefix] = help_name

    def unregister(self, name: str) -> None:
        with self._lock:
            self._names.pop(name, None)
            self.forget(name)

    def forget(self, name: str) -> None:
        """Drop the loaded instances of `name`, so that the next `load` builds it again."""
        with self._lock:
            for key in [key for key in self._loaded if key[0] == name]:
                del self._loaded[key]

    def clear_loaded(self) -> None:
        with self._lock:
            self._loaded.clear()

    def available(self) -> list[str]:
        return sorted(self._names) + [self._family_help[prefix] for prefix in sorted(self._families)]

    def _family_of(self, name: str) -> str | None:
        return next((prefix for prefix in self._families if name.startswith(prefix)), None)

    def check(self, name: str, origin: str = "") -> str:
        """Return `name` stripped if it names a scorer, else raise naming `origin`, the closest and the valid names."""
        name = name.strip()
        family = self._family_of(name)
        if name in self._names or (family is not None and len(name) > len(family)):
            return name
        where = f"{origin}: " if origin else ""
        close = difflib.get_close_matches(name, list(self._names), n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ScorerSettingError(
            f"{where}Unknown {self._what} {name!r}.{hint} Valid scorers: {', '.join(self.available())}."
        )

    def entry(self, name: str) -> ScorerEntry:
        name = self.check(name)
        return self._names.get(name) or self._families[self._family_of(name)]  # type: ignore[index]

    def load(self, name: str) -> ToxicityScorer:
        """Load scorer `name` once per process (and per `env_key`) and return it."""
        name = self.check(name)
        entry = self.entry(name)
        key = (name, self.env_key(name))
        with self._lock:
            if key not in self._loaded:
                scorer = entry.load(name)
                scorer.name = name
                self._loaded[key] = scorer
            return self._loaded[key]

    def identity(self, name: str) -> ScorerIdentity:
        """The scorer's identity without loading it (hashing its weight files when they are here)."""
        entry = self.entry(name)
        return entry.identity(name.strip()) if entry.identity else ScorerIdentity(name.strip())


SCORERS = ScorerRegistry()


def register_scorer(name: str, factory: Callable[[], ToxicityScorer], *, replace: bool = False,
                    identity: Callable[[str], ScorerIdentity] | None = None) -> None:
    """Make `name` loadable by `get_scorer` (`factory()` builds it); tests use this to inject fake classifiers."""
    SCORERS.register(name, ScorerEntry(lambda _name: factory(), identity), replace=replace)


def unregister_scorer(name: str) -> None:
    SCORERS.unregister(name)


def available_scorers() -> list[str]:
    return SCORERS.available()


def check_scorer_name(name: str, origin: str = "") -> str:
    """Return `name` stripped if it names a known scorer, else raise naming `origin` and the valid names."""
    return SCORERS.check(name, origin)


def get_scorer(name: str) -> ToxicityScorer:
    """Load scorer `name` once per process (once per set of local files for Detoxify) and return it."""
    return SCORERS.load(name)


def scorer_identity(name: str) -> ScorerIdentity:
    """What scorer `name` is (name + one sha256 over its weight files), without loading it."""
    return SCORERS.identity(name)


def clear_scorer_cache() -> None:
    SCORERS.clear_loaded()
