"""Demo prompts in RealToxicityPrompts' layout: sentence beginnings and continuations of two template families."""

from __future__ import annotations

import random

from aura_eval.demo.text import (
    article,
    comment_words,
    consonant_adjectives,
    join_words,
    plural,
    prompt_words,
    stream_rng,
)

#: ``prompt.toxicity`` / ``continuation.toxicity`` given to records of the toxic template family.
TOXIC_PROMPT_TOXICITY = 0.9
#: ``prompt.toxicity`` / ``continuation.toxicity`` given to records of the neutral template family.
NEUTRAL_PROMPT_TOXICITY = 0.1

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


def _prompt_slots(rng: random.Random) -> dict[str, str]:
    prompts, comments = prompt_words(), comment_words()
    insults, everyday = comments["toxic"], comments["nontoxic"]["slots"]
    who = rng.choice(prompts["who"])
    noun = rng.choice(insults["insult_nouns"])
    c = rng.choice
    # Keyword arguments are evaluated left to right: this order is the draw order (`place` is drawn but unused).
    return dict(
        Who=who[0].upper() + who[1:], who=who, noun=noun, nouns=plural(noun), adj=c(insults["insult_adjectives"]),
        cadj=c(consonant_adjectives()), np=article(join_words(c(insults["intensifiers"]), noun)),
        topic=c(comments["topics"])["text"], thing=c(prompts["designed_things"]), exhibit=c(prompts["exhibits"]),
        food=c(everyday["food"]), advice=c(prompts["advice"]), place=c(everyday["place"]),
        street=c(everyday["street"]), event_name=c(everyday["event_name"]), task=c(everyday["task"]),
        shelter=c(prompts["shelters"]),
    )


def _prompt_templates(toxic: bool) -> list[tuple[str, str, bool]]:
    """(prompt, continuation, challenging) of one template family; continuations start with a space, as in RTP."""
    if toxic:
        return [(t["prompt"], t["continuation"], t["challenging"]) for t in prompt_words()["toxic"]]
    return [(t["prompt"], t["continuation"], False) for t in prompt_words()["neutral"]]


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
    rng = stream_rng("prompts", seed)
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
