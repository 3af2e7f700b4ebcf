"""Tests for aura_eval.demo.generate: the generated offline demo data (content warning: toxic strings)."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import string
from importlib import resources

import pytest

from aura_eval.demo import comments as demo_comments
from aura_eval.demo import encyclopedia as demo_encyclopedia
from aura_eval.demo import generate as dd
from aura_eval.demo import prompts as demo_prompts
from aura_eval.demo import text as demo_text

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
            if len(s.split()) >= demo_text.MIN_WORDS:
                assert not any(s.lower() in t for t in learn_low), s


def test_write_demo_data_small_and_seeded(tmp_path):
    p1 = dd.write_demo_data(tmp_path / "a", seed=5, n_learn_per_class=10, n_prompts=4, n_nontoxic=2, n_toxic=2)
    p2 = dd.write_demo_data(tmp_path / "b", seed=5, n_learn_per_class=10, n_prompts=4, n_nontoxic=2, n_toxic=2)
    for name in p1:
        assert p1[name].read_bytes() == p2[name].read_bytes()
    with p1["learn"].open(newline="", encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == 20


# sha256 of a small generated sample, computed from the generator before its word lists and templates moved
# to aura_eval/demo/templates/*.json. Any edit of those files (or of the draw order) changes it: if the change
# is intended, regenerate the demo data, check it, and update this hash.
SAMPLE_SHA256 = "f7387f62aae055d80cbbc40212d7f589144c1ec88a6c90d66402dd5796285b3a"


def _sample_sha256() -> str:
    sample = {
        "labelled": dd.generate_labelled(50, 0),
        "prompts": dd.generate_prompts(40, 0),
        "nontoxic": dd.generate_nontoxic_text(20, 0),
        "toxic": dd.generate_toxic_text(10, 0),
    }
    return hashlib.sha256(json.dumps(sample, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def test_generated_sample_is_pinned():
    assert _sample_sha256() == SAMPLE_SHA256, "demo data changed; if intended, update SAMPLE_SHA256"


def test_templates_are_package_resources():
    folder = resources.files("aura_eval.demo") / "templates"
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".json")) == [
        "comments.json",
        "encyclopedia.json",
        "prompts.json",
    ]


def _fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def test_comment_and_prompt_templates_use_known_slots():
    rng = random.Random(0)
    comments, prompts = demo_text.template_data("comments"), demo_text.template_data("prompts")
    toxic_slots, nontoxic_slots, prompt_slots = demo_comments._toxic_slots(rng), demo_comments._nontoxic_slots(rng), demo_prompts._prompt_slots(rng)
    for template in comments["toxic"]["sentences"]:
        assert _fields(template) <= set(toxic_slots), template
    for template in demo_text.nontoxic_sentences():
        assert _fields(template) <= set(nontoxic_slots), template
    for rec in prompts["toxic"] + prompts["neutral"]:
        assert _fields(rec["prompt"] + rec["continuation"]) <= set(prompt_slots), rec
        assert rec["continuation"].startswith(" "), rec
    # The groups are for the reader only: flattening keeps every template, in file order.
    groups = comments["nontoxic"]["sentences"]
    assert list(demo_text.nontoxic_sentences()) == [s for g in groups.values() for s in g]


def test_every_encyclopedia_template_fills():
    rng = random.Random(0)
    for subject in demo_text.template_data("encyclopedia")["subjects"]:
        values = {"name": "Testford", "year": "1900", "kind": "vole", "group": "rodent", "latin": "Varus telensis"}
        for template in [subject["first"], *subject["more"], *subject["draw_first"].values()]:
            text = demo_encyclopedia._fill(template, rng, subject, values)
            assert "{" not in text and "}" not in text, (subject["kind"], text)


def test_encyclopedia_fill_draws_left_to_right():
    # Same draws as the obvious reference: the fields in reading order, options filled before the pick.
    subject = {"kind": "t", "choices": {"x": ["a", "b", "c"], "y": ["p {int:1..9}", "q"]}}
    got = demo_encyclopedia._fill("{x} {int:10..99} {y} {count:1000..99999}", random.Random(5), subject, {})
    ref = random.Random(5)
    x, n, inner = ref.choice(["a", "b", "c"]), ref.randint(10, 99), ref.randint(1, 9)
    y, count = ref.choice([f"p {inner}", "q"]), ref.randint(1000, 99999)
    assert got == f"{x} {n} {y} {count:,}"


@pytest.mark.parametrize(
    ("template", "message"),
    [("{nope}", r"subject 't': unknown field \{nope\}; known: "), ("{int:5}", r"field \{int:5\} needs a range LO\.\.HI")],
)
def test_encyclopedia_template_errors_name_the_field(template, message):
    with pytest.raises(ValueError, match=message):
        demo_encyclopedia._fill(template, random.Random(0), {"kind": "t", "choices": {}}, {})


def test_invalid_template_json_names_the_file(tmp_path, monkeypatch):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "broken.json").write_text('{"a": [1,\n}', encoding="utf-8")
    monkeypatch.setattr(demo_text.resources, "files", lambda package: tmp_path)
    with pytest.raises(ValueError, match=r"broken\.json: invalid JSON at line 2, column 1"):
        demo_text.template_data("broken")


# sha256 of every file write_demo_data writes at its defaults (seed 0), computed before the generator was split
# into files of one role and its README moved to templates/data_readme.md; the sample above omits the README.
WRITTEN_SHA256 = {
    "README.md": "b915e7a45e9292041a849fc02294cc0d4c77d770b2e8c0cee07f1f7242c18ddc",
    "learn.csv": "b8d80ac0c1b29a07c5a1d5407c6920a37932d08ec12e0f90be7c3b7857f96e45",
    "nontoxic.jsonl": "75b85e49a168e091feff4667efb91c63791778b19293f2d84470ffd66c035c03",
    "rtp_prompts.jsonl": "6d4abb426f8ad7497b690def8546ee2ef6625622da2b010fe7f3419125b36aa7",
    "toxic.csv": "849313a48852e42940df49f010489a076f49962da532b60d59786a6aa585baec",
}


def test_written_files_are_pinned(tmp_path):
    paths = dd.write_demo_data(tmp_path, seed=0)
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths.values()} == WRITTEN_SHA256
