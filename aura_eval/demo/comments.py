"""Demo comments: toxic and ordinary (non-toxic) comments about the same people and topics, as labelled pairs
for learning and as toxic paragraphs for toxic perplexity (content warning: the toxic half insults by design).
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from aura_eval.demo.text import (
    MIN_WORDS,
    article,
    capitalize_sentences,
    comment_words,
    distinct,
    join_words,
    nontoxic_sentences,
    plural,
    split_sentences,
    stream_rng,
    word_count,
)

# ---------------------------------------------------------------------------------------------------
# Shared slots: who a comment is about, and what
# ---------------------------------------------------------------------------------------------------


def _target_slots(rng: random.Random) -> dict[str, str]:
    target = rng.choice(comment_words()["targets"])
    obj, third_person = target["object"], target["third_person"]
    pron = {"him": "he", "her": "she", "them": "they"}.get(obj, obj)
    slots = {"S": target["subject"], "be": target["be"], "O": obj, "P": target["possessive"], "pron": pron}
    for base, third in comment_words()["verbs_third_person"].items():
        slots["v_" + base] = third if third_person else base
    slots["dont"] = "doesn't" if third_person else "don't"
    slots["plural"] = "1" if target["plural"] else ""
    return slots


def _topic_slots(rng: random.Random, key: str = "topic") -> dict[str, str]:
    topic = rng.choice(comment_words()["topics"])
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
    words = comment_words()["toxic"]
    slots = _target_slots(rng)
    slots.update(_topic_slots(rng))
    noun = rng.choice(words["insult_nouns"])
    adj, adj2 = rng.sample(words["insult_adjectives"], 2)
    intens = rng.choice(words["intensifiers"])
    sing = article(join_words(intens, noun))
    slots.update(
        noun=noun,
        nouns=plural(noun),
        adj=adj,
        adj2=adj2,
        a_adj=article(adj),
        np_sing=sing,
        np=join_words(intens, plural(noun)) if slots["plural"] else sing,
        nn=plural(noun) if slots["plural"] else noun,
        voc=join_words("you", rng.choice(["", rng.choice(words["insult_adjectives"])]), rng.choice(words["insult_nouns"])),
        dumb_thing=rng.choice(words["dumb_things"]),
        mush=rng.choice(words["mush"]),
    )
    return slots


def _toxic_sentence(rng: random.Random) -> str:
    words = comment_words()["toxic"]
    core = rng.choice(words["sentences"]).format(**_toxic_slots(rng))
    if rng.random() < 0.35:
        core = join_words(core, rng.choice(words["sentences"]).format(**_toxic_slots(rng)))
    tail = rng.choice(words["tails"]) if rng.random() < 0.5 else ""
    return capitalize_sentences(join_words(rng.choice(words["openers"]), core, tail))


# ---------------------------------------------------------------------------------------------------
# Non-toxic comments (opinions, questions, thanks, everyday life, polite disagreement and complaints)
# ---------------------------------------------------------------------------------------------------


def _nontoxic_slots(rng: random.Random) -> dict[str, str]:
    slots = _target_slots(rng)
    slots.update(_topic_slots(rng))
    # One draw per slot, in file order, whether or not the template uses it.
    for name, options in comment_words()["nontoxic"]["slots"].items():
        slots[name] = rng.choice(options)
    return slots


def _nontoxic_sentence(rng: random.Random) -> str:
    words = comment_words()["nontoxic"]
    core = rng.choice(nontoxic_sentences()).format(**_nontoxic_slots(rng))
    if rng.random() < 0.35:
        core = join_words(core, rng.choice(nontoxic_sentences()).format(**_nontoxic_slots(rng)))
    tail = rng.choice(words["tails"]) if rng.random() < 0.4 else ""
    return capitalize_sentences(join_words(rng.choice(words["openers"]), core, tail))


def generate_labelled(n_per_class: int, seed: int) -> list[tuple[str, int]]:
    """`2 * n_per_class` distinct, shuffled ``(sentence, label)`` pairs, label 1 = toxic, 0 = non-toxic.

    Toxic sentences are insulting / profane / hostile comments aimed at a generic "you", "he", "they" or
    an unnamed commenter. Non-toxic sentences are ordinary comments (opinions, questions, thanks, everyday
    life) *including* polite disagreement and complaints, and they talk about the same topics and people,
    so that the only systematic difference between the classes is toxicity. Sentences have 6-40 words.
    """
    toxic = distinct(_toxic_sentence, stream_rng("labelled/toxic", seed), n_per_class)
    nontoxic = distinct(_nontoxic_sentence, stream_rng("labelled/nontoxic", seed), n_per_class)
    pairs = [(t, 1) for t in toxic] + [(t, 0) for t in nontoxic]
    stream_rng("labelled/shuffle", seed).shuffle(pairs)
    return pairs


def _toxic_comment_sentence(rng: random.Random) -> str:
    """One toxic comment (a single template core, optional opener) for the toxic paragraphs."""
    words = comment_words()["toxic"]
    core = rng.choice(words["sentences"]).format(**_toxic_slots(rng))
    return capitalize_sentences(join_words(rng.choice(words["openers"]), core))


def generate_toxic_text(n_docs: int, seed: int, *, exclude: Iterable[str] = ()) -> list[str]:
    """`n_docs` distinct toxic comment paragraphs of 2-4 toxic sentences each (for toxic perplexity),
    sometimes followed by a short rude sign-off ("Get a life.").

    Uses a random stream of its own. With `exclude` (pass the learning sentences), no text of `exclude`
    occurs in any paragraph and no sentence of a paragraph occurs in a text of `exclude` (case-insensitive),
    so the demo never evaluates perplexity on its training sentences.
    """
    rng = stream_rng("toxic-text", seed)
    excluded = sorted({e.lower() for e in exclude if e})

    def clashes(text: str) -> bool:
        # An excluded text inside `text`, or a sentence of `text` long enough to be a learning example
        # (>= MIN_WORDS words; short generic sign-offs such as "Get a life." may repeat) inside one.
        low = text.lower()
        if any(e in low for e in excluded):
            return True
        parts = [p for p in split_sentences(low) if word_count(p) >= MIN_WORDS]
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
            sentences.append(rng.choice(comment_words()["toxic"]["tails"]))
        doc = " ".join(sentences)
        if len(sentences) < k or clashes(doc) or any(clashes(s) for s in sentences):
            continue
        seen.update(s.lower() for s in sentences[:k])
        out.append(doc)
    return out
