"""The demo generator's template data (``templates/*.json``, read once per process) and its text helpers.

Shared by the comment, prompt and encyclopedia generators of aura_eval.demo; every random draw comes from
an explicit generator (`stream_rng`), never from the global random state.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Callable, Iterable
from importlib import resources

MIN_WORDS = 6
MAX_WORDS = 40


def stream_rng(stream: str, seed: int) -> random.Random:
    """An independent generator per (stream, seed); str seeds are hashed deterministically by `random`."""
    return random.Random(f"aura-eval-demo/{stream}/{int(seed)}")


@functools.cache
def template_data(name: str) -> dict:
    """The parsed ``aura_eval/demo/templates/<name>.json``; a package resource, so it works from a wheel too."""
    path = resources.files("aura_eval.demo") / "templates" / f"{name}.json"
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None


def comment_words() -> dict:
    return template_data("comments")


def prompt_words() -> dict:
    return template_data("prompts")


def encyclopedia_words() -> dict:
    return template_data("encyclopedia")


@functools.cache
def nontoxic_sentences() -> tuple[str, ...]:
    """The non-toxic comment templates, flattened in file order (the groups are for the reader)."""
    return tuple(s for group in comment_words()["nontoxic"]["sentences"].values() for s in group)


@functools.cache
def consonant_adjectives() -> tuple[str, ...]:
    """Insult adjectives that can follow "a" (no leading vowel), plus a few intensifiers ("complete", ...)."""
    adjs = [a for a in comment_words()["toxic"]["insult_adjectives"] if a[0] not in "aeiou"]
    return tuple(adjs + prompt_words()["extra_consonant_adjectives"])


def plural(noun: str) -> str:
    exceptions = comment_words()["toxic"]["insult_plural_exceptions"]
    if noun in exceptions:
        return exceptions[noun]
    if noun.endswith(("s", "sh", "ch", "x")):
        return noun + "es"
    return noun + "s"


def article(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def join_words(*parts: str) -> str:
    return " ".join(p for p in parts if p)


_SENT_START = re.compile(r"(^|[.!?]\s+)([a-z])")


def capitalize_sentences(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return _SENT_START.sub(lambda m: m.group(1) + m.group(2).upper(), text)


def split_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def word_count(text: str) -> int:
    return len(text.split())


def distinct(
    make: Callable[[random.Random], str],
    rng: random.Random,
    n: int,
    *,
    exclude: Iterable[str] = (),
    min_words: int = MIN_WORDS,
    max_words: int = MAX_WORDS,
) -> list[str]:
    """`n` distinct outputs of `make` with `min_words..max_words` words, none equal to, containing, or
    contained in an excluded text (so that evaluation text never embeds a training sentence)."""
    excluded = [e for e in exclude if e]
    excluded_set = set(excluded)
    seen: set[str] = set()
    out: list[str] = []
    budget = 200 * n + 1000
    while len(out) < n:
        budget -= 1
        if budget < 0:
            raise RuntimeError(f"could not generate {n} distinct texts; got {len(out)}")
        text = make(rng)
        if text in seen or text in excluded_set or not (min_words <= word_count(text) <= max_words):
            continue
        if excluded and any(e in text or text in e for e in excluded):
            continue
        seen.add(text)
        out.append(text)
    return out
