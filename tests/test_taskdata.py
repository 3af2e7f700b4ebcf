"""Local data: discovery in a data dir, explicit files, precedence, parsing and the errors users see."""

from __future__ import annotations

import json

import pytest
from aura_demo_data import RTP_ROWS, write_data_dir, write_nontoxic, write_rtp, write_toxic_csv

from aura_eval.core.labelled import load_labelled
from aura_eval.harness.taskdata import (
    DataFileError,
    discover,
    load_nontoxic,
    load_rtp,
    load_toxic,
    resolve_data_file,
)


@pytest.fixture(autouse=True)
def no_data_env(monkeypatch):
    monkeypatch.delenv("AURA_DATA_DIR", raising=False)


def test_no_data_dir_means_hub():
    assert resolve_data_file("rtp", {}) is None


def test_exact_names_are_found(tmp_path):
    write_data_dir(tmp_path)
    assert resolve_data_file("rtp", {"data_dir": str(tmp_path)}) == tmp_path / "rtp_prompts.jsonl"
    assert resolve_data_file("nontoxic", {"data_dir": str(tmp_path)}) == tmp_path / "nontoxic.jsonl"
    # "nontoxic.jsonl" contains "toxic" but must not be taken for the toxic file
    assert resolve_data_file("toxic", {"data_dir": str(tmp_path)}) == tmp_path / "toxic.csv"


def test_other_names_by_glob_like_the_shared_dev_files(tmp_path):
    write_rtp(tmp_path / "rtp_prompts_dev.jsonl")
    write_nontoxic(tmp_path / "wikitext2_dev.jsonl")
    write_toxic_csv(tmp_path / "jigsaw_comments_dev.csv")
    write_toxic_csv(tmp_path / "offensive_tweets_dev.csv")  # matches nothing: ignored
    assert discover("rtp", tmp_path).name == "rtp_prompts_dev.jsonl"
    assert discover("nontoxic", tmp_path).name == "wikitext2_dev.jsonl"
    assert discover("toxic", tmp_path).name == "jigsaw_comments_dev.csv"


def test_nontoxic_file_is_never_a_toxic_candidate(tmp_path):
    write_nontoxic(tmp_path / "nontoxic_comments.jsonl")
    with pytest.raises(DataFileError, match="No toxic comments file"):
        discover("toxic", tmp_path)


def test_ambiguous_matches_list_the_candidates(tmp_path):
    write_rtp(tmp_path / "rtp_a.jsonl")
    write_rtp(tmp_path / "rtp_b.jsonl")
    with pytest.raises(DataFileError, match="rtp_a.jsonl, rtp_b.jsonl.*rtp_file"):
        discover("rtp", tmp_path)
    write_toxic_csv(tmp_path / "toxic.csv")
    write_toxic_csv(tmp_path / "toxic.jsonl")
    with pytest.raises(DataFileError, match="toxic.csv, toxic.jsonl"):
        discover("toxic", tmp_path)


def test_missing_file_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("AURA_DATA_DIR", str(tmp_path))
    with pytest.raises(DataFileError) as info:
        resolve_data_file("rtp", {})
    message = str(info.value)
    for needed in ("rtp_prompts.jsonl", "AURA_DATA_DIR", "rtp_file", "allenai/real-toxicity-prompts"):
        assert needed in message


def test_data_dir_must_exist(tmp_path):
    with pytest.raises(DataFileError, match="not a directory"):
        resolve_data_file("rtp", {"data_dir": str(tmp_path / "nope")})


def test_env_var_wins_over_metadata(tmp_path, monkeypatch):
    env_dir, meta_dir = write_data_dir(tmp_path / "env"), write_data_dir(tmp_path / "meta")
    monkeypatch.setenv("AURA_DATA_DIR", str(env_dir))
    assert resolve_data_file("rtp", {"data_dir": str(meta_dir)}).parent == env_dir


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
    write_data_dir(tmp_path / "data")
    write_rtp(tmp_path / "data" / "other.jsonl")
    monkeypatch.chdir(tmp_path)
    found = resolve_data_file("rtp", {"data_dir": "data"})
    assert found.is_absolute() and found == tmp_path / "data" / "rtp_prompts.jsonl"
    # an explicit file is relative to the data dir when there is one, else to the working directory
    assert resolve_data_file("rtp", {"data_dir": "data", "rtp_file": "other.jsonl"}) == tmp_path / "data/other.jsonl"
    assert resolve_data_file("rtp", {"rtp_file": "data/other.jsonl"}) == tmp_path / "data/other.jsonl"
    with pytest.raises(DataFileError, match="rtp_file='missing.jsonl' does not exist"):
        resolve_data_file("rtp", {"rtp_file": "missing.jsonl"})


def test_load_rtp_drops_unscored_prompts_and_shuffles_by_seed(tmp_path):
    write_data_dir(tmp_path)
    docs = load_rtp(data_dir=str(tmp_path))["test"]
    assert len(docs) == len(RTP_ROWS) - 1  # the prompt without toxicity is dropped
    assert load_rtp(data_dir=str(tmp_path)).source == str(tmp_path / "rtp_prompts.jsonl")
    order = [d["rtp_index"] for d in docs]
    assert sorted(order) == [0, 1, 2, 3, 4, 5]
    assert [d["rtp_index"] for d in load_rtp(data_dir=str(tmp_path))["test"]] == order  # reproducible
    orders = {tuple(d["rtp_index"] for d in load_rtp(data_dir=str(tmp_path), rtp_seed=s)["test"]) for s in range(5)}
    assert len(orders) > 1  # the seed matters
    first = docs[0]
    text, toxicity, challenging = RTP_ROWS[first["rtp_index"]]
    assert first["prompt"] == {"text": text, "toxicity": pytest.approx(toxicity)}
    assert first["challenging"] == challenging


def test_load_rtp_assigns_preprompts_round_robin(tmp_path):
    write_data_dir(tmp_path)
    docs = load_rtp(data_dir=str(tmp_path), preprompts=["A", "B"])["test"]
    assert [d["preprompt"] for d in docs] == ["A", "B", "A", "B", "A", "B"]
    with pytest.raises(ValueError, match="preprompts"):
        load_rtp(data_dir=str(tmp_path), preprompts="be nice")


def test_load_rtp_reports_bad_lines(tmp_path):
    path = tmp_path / "rtp_prompts.jsonl"
    path.write_text(json.dumps({"prompt": {"text": "ok", "toxicity": 0.1}}) + "\n{oops\n")
    with pytest.raises(DataFileError, match="rtp_prompts.jsonl:2: not valid JSON"):
        load_rtp(data_dir=str(tmp_path))
    path.write_text(json.dumps({"text": "flat layout"}) + "\n")
    with pytest.raises(DataFileError, match=":1: expected a 'prompt' object"):
        load_rtp(data_dir=str(tmp_path))


def test_load_nontoxic_skips_blank_documents(tmp_path):
    write_data_dir(tmp_path)
    docs = load_nontoxic(data_dir=str(tmp_path))["test"]
    assert len(docs) == 2 and docs[1]["text"].startswith("The weather")
    (tmp_path / "nontoxic.jsonl").write_text(json.dumps({"page": "wrong key"}) + "\n")
    with pytest.raises(DataFileError, match="expected a 'text' string"):
        load_nontoxic(data_dir=str(tmp_path))


def test_load_toxic_keeps_label_1_rows_in_both_layouts(tmp_path):
    write_data_dir(tmp_path)
    texts = load_toxic(data_dir=str(tmp_path))["test"]["text"]
    assert texts == [
        "You are a stupid idiot and everyone hates you.",
        "Shut up, you worthless moron, nobody asked you.",
        "What a pathetic loser, go away and never come back.",
    ]
    kaggle = write_toxic_csv(
        tmp_path / "train.csv", rows=[("id1", "you idiot", 1, 0), ("id2", "hello", 0, 0)],
        header=("id", "comment_text", "toxic", "severe_toxic"),
    )
    assert load_toxic(toxic_file=str(kaggle))["test"]["text"] == ["you idiot"]
    jsonl = tmp_path / "toxic_only.jsonl"
    jsonl.write_text(json.dumps({"text": "moron", "label": 1}) + "\n" + json.dumps({"text": "hi", "label": 0}) + "\n")
    assert load_toxic(toxic_file=str(jsonl))["test"]["text"] == ["moron"]


def test_load_toxic_errors(tmp_path):
    bad = write_toxic_csv(tmp_path / "toxic.csv", rows=[("ok", 1), ("what", "maybe")])
    with pytest.raises(DataFileError, match=r"toxic\.csv:3: field 'label': 'maybe' is not a label"):
        load_toxic(toxic_file=str(bad))
    none = write_toxic_csv(tmp_path / "clean.csv", rows=[("hello", 0)])
    with pytest.raises(DataFileError, match="clean.csv: no rows with a toxic label"):
        load_toxic(toxic_file=str(none))
    wrong = write_toxic_csv(tmp_path / "wrong.csv", rows=[("hello", 1)], header=("body", "label"))
    with pytest.raises(DataFileError, match="wrong.csv: no text column among.*comment_text"):
        load_toxic(toxic_file=str(wrong))


def test_hub_defaults_are_normalised_like_local_files(monkeypatch):
    """No network here: stand in for datasets.load_dataset with rows in each Hub dataset's layout."""
    import datasets

    calls = []
    hub_rows = {
        "allenai/real-toxicity-prompts": [
            {"filename": "a", "challenging": False, "prompt": {"text": "Hello", "toxicity": 0.1, "insult": 0.0},
             "continuation": {"text": " there", "toxicity": 0.0, "insult": 0.0}},
            {"filename": "b", "challenging": True, "prompt": {"text": "No score", "toxicity": None, "insult": None},
             "continuation": {"text": " x", "toxicity": None, "insult": None}},
        ],
        "EleutherAI/wikitext_document_level": [{"page": " = Title = \n Body text . \n"}, {"page": ""}],
        "csv": [{"id": "1", "comment_text": "you moron", "label": 1}, {"id": "2", "comment_text": "hi", "label": 0}],
    }

    def fake_load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split, kwargs))
        return datasets.Dataset.from_list(hub_rows[path])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    rtp = load_rtp()
    assert rtp.source == "hub:allenai/real-toxicity-prompts"
    assert rtp["test"].to_list() == [{"prompt": {"text": "Hello", "toxicity": 0.1}, "challenging": False, "rtp_index": 0}]
    assert load_nontoxic()["test"]["text"] == [" = Title = \n Body text . \n"]
    toxic = load_toxic()
    assert toxic["test"]["text"] == ["you moron"] and toxic.source.startswith("hub:hf://datasets/")
    assert [c[0] for c in calls] == ["allenai/real-toxicity-prompts", "EleutherAI/wikitext_document_level", "csv"]
    assert calls[1][1:3] == ("wikitext-2-raw-v1", "test")


def test_one_labelled_file_gives_the_same_positives_for_learning_and_toxic_perplexity(tmp_path):
    """One reader, one label rule: a score of 0.8 is toxic for both, as are true and 'toxic'."""
    path = tmp_path / "labelled.csv"
    path.write_text(
        "text,label\nyou idiot,1\nhello,0\nyou moron,0.8\nnice,0.3\nshut up,true\nthanks,false\n"
        "loser,toxic\nkind,non-toxic\nhalfway,0.5\n",
        encoding="utf-8",
    )
    learned_positives = [text for text, label in load_labelled(str(path)) if label == 1]
    assert learned_positives == ["you idiot", "you moron", "shut up", "loser", "halfway"]
    assert load_toxic(toxic_file=str(path))["test"]["text"] == learned_positives


def test_toxic_file_accepts_the_learning_column_names(tmp_path):
    path = tmp_path / "toxic.jsonl"
    path.write_text(json.dumps({"sentence": "moron", "is_toxic": 0.9}) + "\n" + json.dumps({"sentence": "hi", "is_toxic": 0.1}))
    assert load_toxic(toxic_file=str(path))["test"]["text"] == ["moron"]
