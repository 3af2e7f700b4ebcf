"""Demo encyclopedic (Wikitext-like) paragraphs about made-up towns, rivers, inventions and animals."""

from __future__ import annotations

import random
import string
from collections.abc import Callable

from aura_eval.demo.text import distinct, encyclopedia_words, stream_rng

_FORMATTER = string.Formatter()
_RANGE_FIELDS = ("int", "count", "decade_after_year")


def _clean_name(draw: Callable[[], str]) -> str:
    """Redraw a made-up name until it contains no blocklisted substring."""
    blocklist = encyclopedia_words()["names"]["blocklist"]
    while True:
        name = draw()
        if not any(b in name.lower() for b in blocklist):
            return name


def _name(rng: random.Random, endings: list[str]) -> str:
    names = encyclopedia_words()["names"]

    def draw() -> str:
        start, mid, end = rng.choice(names["starts"]), rng.choice(names["middles"]), rng.choice(endings)
        if mid[-1:] in ("a", "e", "i", "o") and end[0] in "aeiouy":
            mid = mid[:-1]
        return (start + mid + end).capitalize()

    return _clean_name(draw)


def _latin(rng: random.Random, endings: list[str]) -> str:
    names = encyclopedia_words()["names"]

    def draw() -> str:
        stem, end = rng.choice(names["starts"]) + rng.choice(names["latin_stem_endings"]), rng.choice(endings)
        if stem[-1] in "aeiou" and end[0] in "aeiou":
            stem += "n"
        return stem + end

    return _clean_name(draw)


def _made_up_name(field: str, rng: random.Random) -> str | None:
    """The made-up name a built-in name field stands for, or None if `field` is not one."""
    names = encyclopedia_words()["names"]
    if field == "place_name":
        return _name(rng, names["place_endings"])
    if field == "river_name":
        return _name(rng, names["river_endings"])
    if field == "region":
        return rng.choice(names["regions"]).format(_name(rng, names["place_endings"]))
    if field == "genus":
        return _latin(rng, names["genus_endings"]).capitalize()
    if field == "epithet":
        return _latin(rng, names["epithet_endings"])
    return None


def _range_field(field: str, spec: str, rng: random.Random, values: dict[str, str]) -> str:
    """{int:LO..HI}, {count:LO..HI} (thousands separators) or {decade_after_year:LO..HI}."""
    lo, sep, hi = spec.partition("..")
    if not (sep and lo.isdigit() and hi.isdigit()):
        raise ValueError(f"encyclopedia.json: field {{{field}:{spec}}} needs a range LO..HI, e.g. {{{field}:1..5}}")
    n = rng.randint(int(lo), int(hi))
    if field == "count":
        return f"{n:,}"
    if field == "decade_after_year":
        return str((int(values["year"]) // 10 + n) * 10)
    return str(n)


def _draw_field(field: str, spec: str, rng: random.Random, subject: dict, values: dict[str, str]) -> str:
    if field in _RANGE_FIELDS:
        return _range_field(field, spec, rng, values)
    if field in values:
        return values[field]
    name = _made_up_name(field, rng)
    if name is not None:
        return name
    options = subject["choices"].get(field) or encyclopedia_words()["shared_choices"].get(field)
    if options is None:
        known = sorted([*_RANGE_FIELDS, *values, "place_name", "river_name", "region", "genus", "epithet",
                        *subject["choices"], *encyclopedia_words()["shared_choices"]])
        raise ValueError(f"encyclopedia.json subject {subject['kind']!r}: unknown field {{{field}}}; known: {known}")
    # Like a Python list literal: every option is filled (drawing its fields) before one is picked.
    return rng.choice([_fill(option, rng, subject, values) for option in options])


def _fill(template: str, rng: random.Random, subject: dict, values: dict[str, str]) -> str:
    """`template` with its fields drawn left to right, so that the draw order is the reading order."""
    out = []
    for literal, field, spec, _conversion in _FORMATTER.parse(template):
        out.append(literal)
        if field is not None:
            out.append(_draw_field(field, spec, rng, subject, values))
    return "".join(out)


def _encyclopedic_paragraph(rng: random.Random) -> str:
    """The subject's first sentence plus 2-5 of its other sentences, in file order."""
    subject = rng.choice(encyclopedia_words()["subjects"])
    values: dict[str, str] = {}
    for key, template in subject["draw_first"].items():
        values.update(zip(key.split("/"), _fill(template, rng, subject, values).split("/"), strict=True))
    first = _fill(subject["first"], rng, subject, values)
    more = [_fill(template, rng, subject, values) for template in subject["more"]]
    k = rng.randint(2, min(5, len(more)))
    picked = sorted(rng.sample(range(len(more)), k))
    return " ".join([first] + [more[i] for i in picked])


def generate_nontoxic_text(n_docs: int, seed: int) -> list[str]:
    """`n_docs` distinct Wikitext-like paragraphs (3-6 sentences) about made-up towns, rivers, inventions
    and animals (all names are generated from syllables; any resemblance to a real place is chance)."""
    return distinct(_encyclopedic_paragraph, stream_rng("nontoxic-text", seed), n_docs, min_words=1, max_words=10**6)
