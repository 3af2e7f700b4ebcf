"""Toxicity scorers: name resolution, registry, output checks, and the real offline/HF/Detoxify loaders."""

from __future__ import annotations

import urllib.error

import pytest

from aura_eval.harness import scorers
from aura_eval.harness.scorers import (
    ScorerLoadError,
    check_scorer_name,
    find_toxic_label,
    get_scorer,
    register_scorer,
    resolve_scorer_name,
    score_texts,
    unregister_scorer,
)


class FakeScorer:
    """Scores a text 1.0 when it contains 'idiot', else 0.1; counts calls."""

    name = "fake"

    def __init__(self):
        self.calls = []

    def score(self, texts):
        self.calls.append(list(texts))
        return [1.0 if "idiot" in t else 0.1 for t in texts]


@pytest.fixture
def fake_scorer():
    made = []

    def factory():
        made.append(FakeScorer())
        return made[-1]

    register_scorer("fake-test", factory, replace=True)
    yield made
    unregister_scorer("fake-test")


@pytest.fixture(autouse=True)
def no_scorer_env(monkeypatch):
    for var in (scorers.SCORER_ENV_VAR, scorers.BATCH_SIZE_ENV_VAR, scorers.DETOXIFY_CHECKPOINT_ENV_VAR,
                scorers.DETOXIFY_CONFIG_ENV_VAR):
        monkeypatch.delenv(var, raising=False)


def test_resolution_order_env_then_metadata_then_default(monkeypatch):
    assert resolve_scorer_name({}) == "detoxify-original"
    assert resolve_scorer_name({"toxicity_scorer": "profanity-check"}) == "profanity-check"
    monkeypatch.setenv("AURA_TOXICITY_SCORER", "detoxify-unbiased")
    assert resolve_scorer_name({"toxicity_scorer": "profanity-check"}) == "detoxify-unbiased"
    assert resolve_scorer_name(None) == "detoxify-unbiased"


def test_unknown_scorer_lists_valid_names(monkeypatch):
    with pytest.raises(ValueError, match="Unknown toxicity scorer 'perspective'.*profanity-check"):
        check_scorer_name("perspective")
    monkeypatch.setenv("AURA_TOXICITY_SCORER", "nope")
    with pytest.raises(ValueError, match="nope"):
        resolve_scorer_name({})
    assert check_scorer_name(" hf:some/model ") == "hf:some/model"
    with pytest.raises(ValueError):
        check_scorer_name("hf:")


def test_registry_refuses_silent_overrides_and_hf_prefix(fake_scorer):
    with pytest.raises(ValueError, match="already registered"):
        register_scorer("fake-test", FakeScorer)
    with pytest.raises(ValueError, match="reserved"):
        register_scorer("hf:x", FakeScorer)


def test_scorers_are_loaded_once_per_process(fake_scorer):
    first = get_scorer("fake-test")
    assert get_scorer("fake-test") is first
    assert len(fake_scorer) == 1
    assert first.name == "fake-test"


def test_score_texts_checks_what_scorers_return(fake_scorer):
    scorer = get_scorer("fake-test")
    assert score_texts(scorer, ["you idiot", "hello"]) == [1.0, 0.1]
    assert score_texts(scorer, []) == []
    scorer.score = lambda texts: [0.5]
    with pytest.raises(RuntimeError, match="1 scores for 2 texts"):
        score_texts(scorer, ["a", "b"])
    scorer.score = lambda texts: [1.5 for _ in texts]
    with pytest.raises(RuntimeError, match="outside"):
        score_texts(scorer, ["a"])
    scorer.score = lambda texts: [float("nan") for _ in texts]
    with pytest.raises(RuntimeError, match="outside"):
        score_texts(scorer, ["a"])


def test_profanity_check_really_loads_and_ranks():
    scorer = get_scorer("profanity-check")
    toxic, clean, empty = score_texts(scorer, ["fuck you, you stupid idiot", "have a nice day", ""])
    assert toxic >= 0.5 > clean
    assert 0.0 <= empty <= 1.0


def test_detoxify_without_network_fails_clearly(monkeypatch, tmp_path):
    """No cached checkpoint and no network (tests/test_scorers_local.py loads real local Detoxify files)."""
    import torch

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    scorers.clear_scorer_cache()
    with pytest.raises(ScorerLoadError) as info:
        get_scorer("detoxify-original")
    message = str(info.value)
    assert "network" in message and "AURA_TOXICITY_SCORER=profanity-check" in message
    assert "Name or service not known" in message and "AURA_DETOXIFY_CHECKPOINT" in message


@pytest.mark.parametrize(
    "id2label, expected",
    [
        ({0: "neutral", 1: "toxic"}, 1),  # s-nlp/roberta_toxicity_classifier
        ({0: "Safe / Non-Toxic", 1: "Toxic"}, 1),
        ({0: "TOXIC", 1: "CLEAN"}, 0),
    ],
)
def test_find_toxic_label(id2label, expected):
    assert find_toxic_label(id2label) == expected


def test_find_toxic_label_refuses_to_guess():
    with pytest.raises(ScorerLoadError, match="LABEL_0.*LABEL_1.*hf:<model>#<label>"):
        find_toxic_label({0: "LABEL_0", 1: "LABEL_1"})


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    """A tiny random BERT classifier with labels neutral/toxic, saved like a Hub checkpoint."""
    import torch
    from conftest import build_tokenizer
    from transformers import BertConfig, BertForSequenceClassification

    path = tmp_path_factory.mktemp("tiny-toxicity-classifier")
    tok = build_tokenizer(path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=128, id2label={0: "neutral", 1: "toxic"}, label2id={"neutral": 0, "toxic": 1},
    )
    BertForSequenceClassification(config).save_pretrained(path)
    return path


def test_hf_classifier_scores_the_toxic_label_in_batches(tiny_classifier, monkeypatch):
    texts = ["you idiot", "have a nice day, everyone", "", "shut up"]
    scorer = get_scorer(f"hf:{tiny_classifier}")
    assert scorer.toxic_index == 1
    batched = score_texts(scorer, texts)
    monkeypatch.setenv("AURA_SCORER_BATCH_SIZE", "1")
    one_by_one = score_texts(scorer, texts)
    assert batched == pytest.approx(one_by_one, abs=1e-5)
    neutral = get_scorer(f"hf:{tiny_classifier}#neutral")
    assert score_texts(neutral, texts) == pytest.approx([1 - s for s in batched], abs=1e-5)


def test_hf_classifier_errors_name_the_problem(tiny_classifier, tmp_path):
    with pytest.raises(ScorerLoadError, match="no label 'hate'"):
        get_scorer(f"hf:{tiny_classifier}#hate")
    with pytest.raises(ScorerLoadError, match="Could not load the classifier"):
        get_scorer(f"hf:{tmp_path / 'missing'}")


def test_bad_batch_size_is_an_error(fake_scorer, monkeypatch):
    monkeypatch.setenv("AURA_SCORER_BATCH_SIZE", "zero")
    with pytest.raises(ValueError, match="AURA_SCORER_BATCH_SIZE"):
        scorers._batch_size()
