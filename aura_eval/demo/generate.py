"""Offline demo data for aura-eval, generated at run time from the project's own templates.

WARNING: by design, the "toxic" half of this data contains insults and mild profanity (aimed at a generic
"you" / "he" / "they"; no slurs, no identity attacks, no threats). It exists so that the embedded
end-to-end demo can learn AurA and measure toxicity / perplexity on a machine without Hub access.

Everything here is written for aura-eval: the sentence templates, the slot word lists and the made-up
names are the project's own; no sentence or word list is copied from a third-party dataset. The data is
a *smoke test* for the pipeline, not a benchmark: numbers computed on it are not comparable with the
paper's (RealToxicityPrompts, Wikitext-2, Jigsaw) and must not be reported as such.

Public API (all deterministic for a given seed, pure Python, no global random state):

- :func:`generate_labelled` -- balanced (sentence, label) pairs, 1 = toxic comment, 0 = ordinary comment
  (opinions, questions, thanks, everyday topics and *polite disagreement / complaints*, so that a probe
  learns toxicity rather than negative sentiment or topic; both classes share the same topics and
  people).
- :func:`generate_prompts` -- RealToxicityPrompts-layout records (sentence beginnings + continuations).
- :func:`generate_nontoxic_text` -- short encyclopedic (Wikitext-like) paragraphs about made-up towns,
  rivers, inventions and animals.
- :func:`generate_toxic_text` -- toxic comment paragraphs (2-4 toxic sentences) for toxic perplexity.
- :func:`write_demo_data` -- writes all of the above (plus a README) to a folder.

The sentence templates and word lists are data, not code: ``aura_eval/demo/templates/`` holds
``comments.json`` (targets, topics, toxic and non-toxic comment templates and slot words),
``prompts.json`` (the RTP-layout prompt templates) and ``encyclopedia.json`` (the made-up subjects'
paragraph templates and name syllables). List order there is draw order: editing a file changes the
generated data for every seed (tests/test_demo_data.py pins a hash of a sample).
"""

from __future__ import annotations

import csv
import functools
import json
import random
import re
import string
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path

__all__ = [
    "generate_labelled",
    "generate_prompts",
    "generate_nontoxic_text",
    "generate_toxic_text",
    "write_demo_data",
    "TOXIC_PROMPT_TOXICITY",
    "NEUTRAL_PROMPT_TOXICITY",
]

#: ``prompt.toxicity`` / ``continuation.toxicity`` given to records of the toxic template family.
TOXIC_PROMPT_TOXICITY = 0.9
#: ``prompt.toxicity`` / ``continuation.toxicity`` given to records of the neutral template family.
NEUTRAL_PROMPT_TOXICITY = 0.1

MIN_WORDS = 6
MAX_WORDS = 40

# Perspective-API attribute names used by RealToxicityPrompts records; only "toxicity" is filled here.
_RTP_ATTRIBUTES = (
    "profanity",
    "sexually_explicit",
    "identity_attack",
    "flirtation",
    "threat",
    "insult",
    "severe_toxicity",
)


def _rng(stream: str, seed: int) -> random.Random:
    """An independent generator per (stream, seed); str seeds are hashed deterministically by `random`."""
    return random.Random(f"aura-eval-demo/{stream}/{int(seed)}")


# ---------------------------------------------------------------------------------------------------
# Template data (aura_eval/demo/templates/*.json, read once per process)
# ---------------------------------------------------------------------------------------------------


@functools.cache
def _templates(name: str) -> dict:
    """The parsed ``aura_eval/demo/templates/<name>.json``; a package resource, so it works from a wheel too."""
    path = resources.files("aura_eval.demo") / "templates" / f"{name}.json"
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None


def _comments() -> dict:
    return _templates("comments")


def _prompts() -> dict:
    return _templates("prompts")


def _encyclopedia() -> dict:
    return _templates("encyclopedia")


@functools.cache
def _nontoxic_sentences() -> tuple[str, ...]:
    """The non-toxic comment templates, flattened in file order (the groups are for the reader)."""
    return tuple(s for group in _comments()["nontoxic"]["sentences"].values() for s in group)


@functools.cache
def _consonant_adjectives() -> tuple[str, ...]:
    """Insult adjectives that can follow "a" (no leading vowel), plus a few intensifiers ("complete", ...)."""
    adjs = [a for a in _comments()["toxic"]["insult_adjectives"] if a[0] not in "aeiou"]
    return tuple(adjs + _prompts()["extra_consonant_adjectives"])


# ---------------------------------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------------------------------


def _plural(noun: str) -> str:
    exceptions = _comments()["toxic"]["insult_plural_exceptions"]
    if noun in exceptions:
        return exceptions[noun]
    if noun.endswith(("s", "sh", "ch", "x")):
        return noun + "es"
    return noun + "s"


def _article(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


_SENT_START = re.compile(r"(^|[.!?]\s+)([a-z])")


def _capitalize_sentences(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return _SENT_START.sub(lambda m: m.group(1) + m.group(2).upper(), text)


def _split_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def _word_count(text: str) -> int:
    return len(text.split())


# ---------------------------------------------------------------------------------------------------
# Shared slots: who a comment is about, and what
# ---------------------------------------------------------------------------------------------------


def _target_slots(rng: random.Random) -> dict[str, str]:
    target = rng.choice(_comments()["targets"])
    obj, third_person = target["object"], target["third_person"]
    pron = {"him": "he", "her": "she", "them": "they"}.get(obj, obj)
    slots = {"S": target["subject"], "be": target["be"], "O": obj, "P": target["possessive"], "pron": pron}
    for base, third in _comments()["verbs_third_person"].items():
        slots["v_" + base] = third if third_person else base
    slots["dont"] = "doesn't" if third_person else "don't"
    slots["plural"] = "1" if target["plural"] else ""
    return slots


def _topic_slots(rng: random.Random, key: str = "topic") -> dict[str, str]:
    topic = rng.choice(_comments()["topics"])
    plural = topic["plural"]
    return {
        key: topic["text"],
        key + "_is": "are" if plural else "is",
        key + "_it": "them" if plural else "it",
        key + "_was": "were" if plural else "was",
    }


# ---------------------------------------------------------------------------------------------------
# Toxic comments
# ---------------------------------------------------------------------------------------------------


def _toxic_slots(rng: random.Random) -> dict[str, str]:
    words = _comments()["toxic"]
    slots = _target_slots(rng)
    slots.update(_topic_slots(rng))
    noun = rng.choice(words["insult_nouns"])
    adj, adj2 = rng.sample(words["insult_adjectives"], 2)
    intens = rng.choice(words["intensifiers"])
    sing = _article(_join(intens, noun))
    slots.update(
        noun=noun,
        nouns=_plural(noun),
        adj=adj,
        adj2=adj2,
        a_adj=_article(adj),
        np_sing=sing,
        np=_join(intens, _plural(noun)) if slots["plural"] else sing,
        nn=_plural(noun) if slots["plural"] else noun,
        voc=_join("you", rng.choice(["", rng.choice(words["insult_adjectives"])]), rng.choice(words["insult_nouns"])),
        dumb_thing=rng.choice(words["dumb_things"]),
        mush=rng.choice(words["mush"]),
    )
    return slots


def _toxic_sentence(rng: random.Random) -> str:
    words = _comments()["toxic"]
    core = rng.choice(words["sentences"]).format(**_toxic_slots(rng))
    if rng.random() < 0.35:
        core = _join(core, rng.choice(words["sentences"]).format(**_toxic_slots(rng)))
    tail = rng.choice(words["tails"]) if rng.random() < 0.5 else ""
    return _capitalize_sentences(_join(rng.choice(words["openers"]), core, tail))


# ---------------------------------------------------------------------------------------------------
# Non-toxic comments (opinions, questions, thanks, everyday life, polite disagreement and complaints)
# ---------------------------------------------------------------------------------------------------


def _nontoxic_slots(rng: random.Random) -> dict[str, str]:
    slots = _target_slots(rng)
    slots.update(_topic_slots(rng))
    # One draw per slot, in file order, whether or not the template uses it.
    for name, options in _comments()["nontoxic"]["slots"].items():
        slots[name] = rng.choice(options)
    return slots


def _nontoxic_sentence(rng: random.Random) -> str:
    words = _comments()["nontoxic"]
    core = rng.choice(_nontoxic_sentences()).format(**_nontoxic_slots(rng))
    if rng.random() < 0.35:
        core = _join(core, rng.choice(_nontoxic_sentences()).format(**_nontoxic_slots(rng)))
    tail = rng.choice(words["tails"]) if rng.random() < 0.4 else ""
    return _capitalize_sentences(_join(rng.choice(words["openers"]), core, tail))


def _distinct(
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
        if text in seen or text in excluded_set or not (min_words <= _word_count(text) <= max_words):
            continue
        if excluded and any(e in text or text in e for e in excluded):
            continue
        seen.add(text)
        out.append(text)
    return out


def generate_labelled(n_per_class: int, seed: int) -> list[tuple[str, int]]:
    """`2 * n_per_class` distinct, shuffled ``(sentence, label)`` pairs, label 1 = toxic, 0 = non-toxic.

    Toxic sentences are insulting / profane / hostile comments aimed at a generic "you", "he", "they" or
    an unnamed commenter. Non-toxic sentences are ordinary comments (opinions, questions, thanks, everyday
    life) *including* polite disagreement and complaints, and they talk about the same topics and people,
    so that the only systematic difference between the classes is toxicity. Sentences have 6-40 words.
    """
    toxic = _distinct(_toxic_sentence, _rng("labelled/toxic", seed), n_per_class)
    nontoxic = _distinct(_nontoxic_sentence, _rng("labelled/nontoxic", seed), n_per_class)
    pairs = [(t, 1) for t in toxic] + [(t, 0) for t in nontoxic]
    _rng("labelled/shuffle", seed).shuffle(pairs)
    return pairs


# ---------------------------------------------------------------------------------------------------
# RealToxicityPrompts-layout prompts
# ---------------------------------------------------------------------------------------------------


def _prompt_slots(rng: random.Random) -> dict[str, str]:
    prompts, comments = _prompts(), _comments()
    insults, everyday = comments["toxic"], comments["nontoxic"]["slots"]
    who = rng.choice(prompts["who"])
    noun = rng.choice(insults["insult_nouns"])
    c = rng.choice
    # Keyword arguments are evaluated left to right: this order is the draw order (`place` is drawn but unused).
    return dict(
        Who=who[0].upper() + who[1:], who=who, noun=noun, nouns=_plural(noun), adj=c(insults["insult_adjectives"]),
        cadj=c(_consonant_adjectives()), np=_article(_join(c(insults["intensifiers"]), noun)),
        topic=c(comments["topics"])["text"], thing=c(prompts["designed_things"]), exhibit=c(prompts["exhibits"]),
        food=c(everyday["food"]), advice=c(prompts["advice"]), place=c(everyday["place"]),
        street=c(everyday["street"]), event_name=c(everyday["event_name"]), task=c(everyday["task"]),
        shelter=c(prompts["shelters"]),
    )


def _prompt_templates(toxic: bool) -> list[tuple[str, str, bool]]:
    """(prompt, continuation, challenging) of one template family; continuations start with a space, as in RTP."""
    if toxic:
        return [(t["prompt"], t["continuation"], t["challenging"]) for t in _prompts()["toxic"]]
    return [(t["prompt"], t["continuation"], False) for t in _prompts()["neutral"]]


def _rtp_scores(text: str, toxicity: float) -> dict:
    rec: dict = {"text": text}
    rec.update({k: None for k in _RTP_ATTRIBUTES})
    rec["toxicity"] = toxicity
    return rec


def generate_prompts(n: int, seed: int) -> list[dict]:
    """`n` RealToxicityPrompts-layout records: ``n // 2`` toxic-leaning and ``n - n // 2`` neutral, shuffled.

    Each record is ``{"filename": "demo-<i>", "begin": 0, "end": len(prompt + continuation),
    "challenging": bool, "toxicity_source": "template", "prompt": {"text", "toxicity", "profanity": None,
    ...}, "continuation": {"text", "toxicity", ...}}`` (``begin``/``end`` are character offsets of the
    full sentence in its "document", which here is the sentence itself).

    The toxicity scores are NOT classifier outputs: they are the label of the template family a record
    was built from, ``TOXIC_PROMPT_TOXICITY`` (0.9) for the toxic family (insult-inviting, mostly hostile
    beginnings) and ``NEUTRAL_PROMPT_TOXICITY`` (0.1) for the neutral one; ``"toxicity_source":
    "template"`` says so in every record. The other Perspective attributes are ``None``. ``challenging``
    is True for the toxic records whose template ends right where an insult would go (a "... I was a"
    or "... you" ending), the analogue of RTP's prompts that reliably lead to toxic continuations.
    """
    rng = _rng("prompts", seed)
    n_toxic = n // 2
    families = [(True, n_toxic), (False, n - n_toxic)]
    items: list[tuple[str, str, bool, bool]] = []
    seen: set[str] = set()
    for toxic, count in families:
        templates = _prompt_templates(toxic)
        # Every template once (in random order) before any template is used twice.
        order = list(range(len(templates)))
        rng.shuffle(order)
        made = 0
        budget = 200 * count + 1000
        while made < count:
            budget -= 1
            if budget < 0:
                raise RuntimeError(f"could not generate {count} distinct prompts")
            k = order.pop() if order else rng.randrange(len(templates))
            p_tpl, c_tpl, challenging = templates[k]
            slots = _prompt_slots(rng)
            prompt, cont = p_tpl.format(**slots), c_tpl.format(**slots)
            if prompt in seen:
                continue
            seen.add(prompt)  # shared by both families: a shared lead-in never gets two labels
            made += 1
            items.append((prompt, cont, toxic, challenging))
    rng.shuffle(items)
    records = []
    for i, (prompt, cont, toxic, challenging) in enumerate(items):
        tox = TOXIC_PROMPT_TOXICITY if toxic else NEUTRAL_PROMPT_TOXICITY
        records.append(
            {
                "filename": f"demo-{i}",
                "begin": 0,
                "end": len(prompt + cont),
                "challenging": bool(challenging),
                "toxicity_source": "template",
                "prompt": _rtp_scores(prompt, tox),
                "continuation": _rtp_scores(cont, tox),
            }
        )
    return records


# ---------------------------------------------------------------------------------------------------
# Encyclopedic (Wikitext-like) paragraphs about made-up subjects
# ---------------------------------------------------------------------------------------------------

_FORMATTER = string.Formatter()
_RANGE_FIELDS = ("int", "count", "decade_after_year")


def _clean_name(draw: Callable[[], str]) -> str:
    """Redraw a made-up name until it contains no blocklisted substring."""
    blocklist = _encyclopedia()["names"]["blocklist"]
    while True:
        name = draw()
        if not any(b in name.lower() for b in blocklist):
            return name


def _name(rng: random.Random, endings: list[str]) -> str:
    names = _encyclopedia()["names"]

    def draw() -> str:
        start, mid, end = rng.choice(names["starts"]), rng.choice(names["middles"]), rng.choice(endings)
        if mid[-1:] in ("a", "e", "i", "o") and end[0] in "aeiouy":
            mid = mid[:-1]
        return (start + mid + end).capitalize()

    return _clean_name(draw)


def _latin(rng: random.Random, endings: list[str]) -> str:
    names = _encyclopedia()["names"]

    def draw() -> str:
        stem, end = rng.choice(names["starts"]) + rng.choice(names["latin_stem_endings"]), rng.choice(endings)
        if stem[-1] in "aeiou" and end[0] in "aeiou":
            stem += "n"
        return stem + end

    return _clean_name(draw)


def _made_up_name(field: str, rng: random.Random) -> str | None:
    """The made-up name a built-in name field stands for, or None if `field` is not one."""
    names = _encyclopedia()["names"]
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
    options = subject["choices"].get(field) or _encyclopedia()["shared_choices"].get(field)
    if options is None:
        known = sorted([*_RANGE_FIELDS, *values, "place_name", "river_name", "region", "genus", "epithet",
                        *subject["choices"], *_encyclopedia()["shared_choices"]])
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
    subject = rng.choice(_encyclopedia()["subjects"])
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
    return _distinct(_encyclopedic_paragraph, _rng("nontoxic-text", seed), n_docs, min_words=1, max_words=10**6)


def _toxic_comment_sentence(rng: random.Random) -> str:
    """One toxic comment (a single template core, optional opener) for the toxic paragraphs."""
    words = _comments()["toxic"]
    core = rng.choice(words["sentences"]).format(**_toxic_slots(rng))
    return _capitalize_sentences(_join(rng.choice(words["openers"]), core))


def generate_toxic_text(n_docs: int, seed: int, *, exclude: Iterable[str] = ()) -> list[str]:
    """`n_docs` distinct toxic comment paragraphs of 2-4 toxic sentences each (for toxic perplexity),
    sometimes followed by a short rude sign-off ("Get a life.").

    Uses a random stream of its own. With `exclude` (pass the learning sentences), no text of `exclude`
    occurs in any paragraph and no sentence of a paragraph occurs in a text of `exclude` (case-insensitive),
    so the demo never evaluates perplexity on its training sentences.
    """
    rng = _rng("toxic-text", seed)
    excluded = sorted({e.lower() for e in exclude if e})

    def clashes(text: str) -> bool:
        # An excluded text inside `text`, or a sentence of `text` long enough to be a learning example
        # (>= MIN_WORDS words; short generic sign-offs such as "Get a life." may repeat) inside one.
        low = text.lower()
        if any(e in low for e in excluded):
            return True
        parts = [p for p in _split_sentences(low) if _word_count(p) >= MIN_WORDS]
        return any(p in e for p in parts for e in excluded)

    seen: set[str] = set()
    out: list[str] = []
    budget = 200 * n_docs + 1000
    while len(out) < n_docs:
        budget -= 1
        if budget < 0:
            raise RuntimeError(f"could not generate {n_docs} distinct toxic paragraphs; got {len(out)}")
        k = rng.randint(2, 4)
        sentences: list[str] = []
        for _ in range(50 * k):
            s = _toxic_comment_sentence(rng)
            if s.lower() not in seen and s not in sentences and not clashes(s):
                sentences.append(s)
                if len(sentences) == k:
                    break
        if rng.random() < 0.4:
            sentences.append(rng.choice(_comments()["toxic"]["tails"]))
        doc = " ".join(sentences)
        if len(sentences) < k or clashes(doc) or any(clashes(s) for s in sentences):
            continue
        seen.update(s.lower() for s in sentences[:k])
        out.append(doc)
    return out


# ---------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------

_README = """\
# aura-eval demo data (generated)

These files were generated by `aura_eval.demo.generate.write_demo_data(seed={seed})` from aura-eval's own
sentence templates and word lists. No text is copied from a third-party dataset.

**Content warning:** the toxic files contain insults and mild profanity by design.

| file | content |
| --- | --- |
| `learn.csv` | `text,label` -- {n_learn} short comments per class for learning AurA (1 = toxic, 0 = non-toxic; the non-toxic class includes polite disagreement and complaints) |
| `rtp_prompts.jsonl` | {n_prompts} RealToxicityPrompts-layout records; `prompt.toxicity` is the template-family label (0.9 toxic-leaning, 0.1 neutral), not a classifier score (`"toxicity_source": "template"`) |
| `nontoxic.jsonl` | `{{"text": ...}}` -- {n_nontoxic} Wikitext-like paragraphs about made-up towns, rivers, inventions and animals (non-toxic perplexity) |
| `toxic.csv` | `text,label` -- {n_toxic} toxic comment paragraphs, all label 1 (toxic perplexity); no `learn.csv` sentence occurs in them |

Numbers computed on these files are a **smoke test** of the pipeline, not the paper's benchmark
(RealToxicityPrompts / Wikitext-2 / Jigsaw): do not compare them with published results.
"""


def write_demo_data(
    out_dir,
    seed: int = 0,
    n_learn_per_class: int = 300,
    n_prompts: int = 60,
    n_nontoxic: int = 30,
    n_toxic: int = 30,
) -> dict[str, Path]:
    """Write the demo files to `out_dir` (created if needed) and return their paths by name:
    ``learn``, ``rtp_prompts``, ``nontoxic``, ``toxic``, ``readme``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "learn": out / "learn.csv",
        "rtp_prompts": out / "rtp_prompts.jsonl",
        "nontoxic": out / "nontoxic.jsonl",
        "toxic": out / "toxic.csv",
        "readme": out / "README.md",
    }
    learn = generate_labelled(n_learn_per_class, seed)
    toxic = generate_toxic_text(n_toxic, seed, exclude=[t for t, _ in learn])

    with paths["learn"].open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(learn)
    with paths["rtp_prompts"].open("w", encoding="utf-8") as f:
        for rec in generate_prompts(n_prompts, seed):
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    with paths["nontoxic"].open("w", encoding="utf-8") as f:
        for doc in generate_nontoxic_text(n_nontoxic, seed):
            f.write(json.dumps({"text": doc}, ensure_ascii=False) + "\n")
    with paths["toxic"].open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows((t, 1) for t in toxic)
    paths["readme"].write_text(
        _README.format(seed=seed, n_learn=n_learn_per_class, n_prompts=n_prompts, n_nontoxic=n_nontoxic,
                       n_toxic=n_toxic),
        encoding="utf-8",
    )
    return paths
