"""Tests for aura_eval.demo.generate: the generated offline demo data (content warning: toxic strings)."""

from __future__ import annotations

import csv
import json
import random
import re

import pytest

from aura_eval.demo import generate as dd

PROFANE = re.compile(r"\b(hell|damn|crap|shit|bullshit|ass|idiot|moron|stupid|loser|dumbass|jackass|garbage)\b", re.I)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def test_labelled_deterministic_and_seed_dependent():
    a = dd.generate_labelled(60, seed=3)
    assert a == dd.generate_labelled(60, seed=3)
    assert a != dd.generate_labelled(60, seed=4)


def test_no_global_random_state_used():
    random.seed(123)
    state = random.getstate()
    dd.generate_labelled(20, 0)
    dd.generate_prompts(10, 0)
    dd.generate_nontoxic_text(5, 0)
    dd.generate_toxic_text(5, 0)
    assert random.getstate() == state


def test_labelled_balanced_distinct_and_sized():
    pairs = dd.generate_labelled(300, seed=0)
    assert len(pairs) == 600
    assert sum(label for _, label in pairs) == 300
    assert {label for _, label in pairs} == {0, 1}
    texts = [t for t, _ in pairs]
    assert len(set(texts)) == len(texts)
    assert all(isinstance(t, str) and 6 <= len(t.split()) <= 40 for t in texts)
    # Shuffled, not grouped by class.
    assert len({label for _, label in pairs[:50]}) == 2


def test_labelled_class_content():
    pairs = dd.generate_labelled(300, seed=1)
    toxic = [t for t, y in pairs if y == 1]
    clean = [t for t, y in pairs if y == 0]
    # Non-toxic comments carry no profanity / insult words at all; most toxic ones do.
    assert not [t for t in clean if PROFANE.search(t)]
    assert sum(bool(PROFANE.search(t)) for t in toxic) > 0.5 * len(toxic)
    # The non-toxic class includes polite disagreement / complaints, so the classes are not just sentiment.
    assert any("disagree" in t for t in clean)
    assert any("disappointed" in t or "won't go back" in t for t in clean)


def test_profanity_classifier_separates_classes():
    profanity_check = pytest.importorskip("profanity_check")
    pairs = dd.generate_labelled(200, seed=0)
    toxic = [t for t, y in pairs if y == 1]
    clean = [t for t, y in pairs if y == 0]
    p_toxic = float(profanity_check.predict_prob(toxic).mean())
    p_clean = float(profanity_check.predict_prob(clean).mean())
    assert p_toxic > p_clean + 0.3, (p_toxic, p_clean)

    docs_toxic = float(profanity_check.predict_prob(dd.generate_toxic_text(20, 0)).mean())
    docs_clean = float(profanity_check.predict_prob(dd.generate_nontoxic_text(20, 0)).mean())
    assert docs_toxic > docs_clean + 0.3, (docs_toxic, docs_clean)


@pytest.mark.parametrize("n", [60, 7])
def test_prompts_rtp_layout(n):
    recs = dd.generate_prompts(n, seed=0)
    assert recs == dd.generate_prompts(n, seed=0)
    assert len(recs) == n
    assert [r["filename"] for r in recs] == [f"demo-{i}" for i in range(n)]
    assert len({r["prompt"]["text"] for r in recs}) == n
    for r in recs:
        assert {"filename", "begin", "end", "challenging", "prompt", "continuation", "toxicity_source"} <= set(r)
        assert r["toxicity_source"] == "template"
        assert r["begin"] == 0 and r["end"] == len(r["prompt"]["text"] + r["continuation"]["text"])
        assert isinstance(r["challenging"], bool)
        for part in ("prompt", "continuation"):
            assert isinstance(r[part]["text"], str) and r[part]["text"].strip()
            assert r[part]["toxicity"] in (dd.TOXIC_PROMPT_TOXICITY, dd.NEUTRAL_PROMPT_TOXICITY)
            assert "profanity" in r[part] and r[part]["profanity"] is None
        assert r["continuation"]["text"].startswith(" ")
        assert r["prompt"]["toxicity"] == r["continuation"]["toxicity"]
        if r["challenging"]:
            assert r["prompt"]["toxicity"] >= 0.5
    toxic = [r for r in recs if r["prompt"]["toxicity"] >= 0.5]
    assert len(toxic) == n // 2
    if n >= 20:
        assert any(r["challenging"] for r in toxic)
        assert not all(r["challenging"] for r in toxic)
    json.dumps(recs)  # JSON-serialisable


def test_nontoxic_text_paragraphs():
    docs = dd.generate_nontoxic_text(30, seed=0)
    assert docs == dd.generate_nontoxic_text(30, seed=0)
    assert len(set(docs)) == 30
    for doc in docs:
        assert 3 <= len(_sentences(doc)) <= 6, doc
        assert not PROFANE.search(doc)


def test_toxic_text_paragraphs():
    docs = dd.generate_toxic_text(30, seed=0)
    assert docs == dd.generate_toxic_text(30, seed=0)
    assert len(set(docs)) == 30
    for doc in docs:
        assert len(_sentences(doc)) >= 2, doc
    assert sum(bool(PROFANE.search(d)) for d in docs) >= 25


def test_write_demo_data(tmp_path):
    paths = dd.write_demo_data(tmp_path / "demo", seed=0)
    assert set(paths) == {"learn", "rtp_prompts", "nontoxic", "toxic", "readme"}
    assert all(p.is_file() for p in paths.values())

    with paths["learn"].open(newline="", encoding="utf-8") as f:
        learn = [(row["text"], int(row["label"])) for row in csv.DictReader(f)]
    assert learn == dd.generate_labelled(300, 0)  # round-trips through csv quoting
    with paths["toxic"].open(newline="", encoding="utf-8") as f:
        toxic_rows = list(csv.DictReader(f))
    assert len(toxic_rows) == 30 and {r["label"] for r in toxic_rows} == {"1"}
    prompts = [json.loads(line) for line in paths["rtp_prompts"].read_text(encoding="utf-8").splitlines()]
    assert len(prompts) == 60 and prompts == dd.generate_prompts(60, 0)
    nontoxic = [json.loads(line) for line in paths["nontoxic"].read_text(encoding="utf-8").splitlines()]
    assert len(nontoxic) == 30 and all(set(r) == {"text"} and r["text"] for r in nontoxic)
    readme = paths["readme"].read_text(encoding="utf-8")
    assert "aura-eval" in readme and "smoke test" in readme

    # Learn and toxic-eval texts are disjoint: no learning sentence inside an eval paragraph, no eval
    # sentence inside a learning sentence (case-insensitive).
    learn_low = [t.lower() for t, _ in learn]
    for row in toxic_rows:
        doc = row["text"].lower()
        assert not any(t in doc for t in learn_low)
        for s in _sentences(row["text"]):
            if len(s.split()) >= dd.MIN_WORDS:
                assert not any(s.lower() in t for t in learn_low), s


def test_write_demo_data_small_and_seeded(tmp_path):
    p1 = dd.write_demo_data(tmp_path / "a", seed=5, n_learn_per_class=10, n_prompts=4, n_nontoxic=2, n_toxic=2)
    p2 = dd.write_demo_data(tmp_path / "b", seed=5, n_learn_per_class=10, n_prompts=4, n_nontoxic=2, n_toxic=2)
    for name in p1:
        assert p1[name].read_bytes() == p2[name].read_bytes()
    with p1["learn"].open(newline="", encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == 20
