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


# ----------------------------------------------------------------------------- the registry


def test_registry_clashes_and_did_you_mean():
    from aura_eval.harness.scorers import ScorerEntry, ScorerRegistry

    registry = ScorerRegistry()
    entry = ScorerEntry(lambda name: FakeScorer())
    registry.register("alpha-scorer", entry)
    with pytest.raises(ValueError, match="'alpha-scorer' is already registered"):
        registry.register("alpha-scorer", ScorerEntry(lambda name: FakeScorer()))
    registry.register("alpha-scorer", entry, replace=True)
    registry.register_family("x:", entry, "x:<anything>")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_family("x:", entry, "x:<again>")
    with pytest.raises(ValueError, match="reserved for the x:<anything> family"):
        registry.register("x:one", entry)
    with pytest.raises(ValueError, match="would hide the registered scorer 'alpha-scorer'"):
        registry.register_family("alpha", entry, "alpha<rest>")
    with pytest.raises(ValueError) as info:
        registry.check("alpah-scorer", "AURA_TOXICITY_SCORER")
    assert str(info.value) == ("AURA_TOXICITY_SCORER: Unknown toxicity scorer 'alpah-scorer'. Did you mean "
                               "'alpha-scorer'? Valid scorers: alpha-scorer, x:<anything>.")
    with pytest.raises(ValueError, match="Unknown toxicity scorer 'zzz'. Valid scorers"):  # nothing close: no hint
        registry.check("zzz")
    assert registry.check(" x:y ") == "x:y"
    with pytest.raises(ValueError):
        registry.check("x:")
    loaded = registry.load("x:y")
    assert registry.load("x:y") is loaded and loaded.name == "x:y"
    assert registry.identity("x:y").spec() == {"name": "x:y"}  # no identity function: the name is all there is


def test_the_shipped_registry_suggests_close_names():
    with pytest.raises(ValueError, match="Did you mean 'detoxify-original'"):
        check_scorer_name("detoxify-orignal")


# ----------------------------------------------------------------------------- every setting, checked without loading


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("AURA_SCORER_DEVICE", "cuda", "AURA_SCORER_DEVICE='cuda' is not a device of this machine; valid here: cpu"),
        ("AURA_SCORER_DEVICE", "cuda:7", "AURA_SCORER_DEVICE='cuda:7' is not a device"),
        ("AURA_SCORER_BATCH_SIZE", "-3", "AURA_SCORER_BATCH_SIZE='-3' is not a positive integer"),
        ("AURA_SCORER_BATCHSIZE", "8", "AURA_SCORER_BATCHSIZE is not a scorer setting (did you mean "
                                       "AURA_SCORER_BATCH_SIZE?"),
        ("AURA_TOXICITY_SCORER", "detoxify", "AURA_TOXICITY_SCORER: Unknown toxicity scorer 'detoxify'"),
        ("AURA_DETOXIFY_CHECKPOINT", "/nonexistent/x.ckpt", "AURA_DETOXIFY_CHECKPOINT=/nonexistent/x.ckpt: no such file"),
        ("AURA_DETOXIFY_CONFIG_DIR", "/nonexistent/bert", "AURA_DETOXIFY_CONFIG_DIR=/nonexistent/bert: no such folder"),
    ],
)
def test_check_scorer_settings_checks_each_variable_without_loading(variable, value, message, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for entry in ("profanity-check", "detoxify-original"):  # a load would fail this test
        monkeypatch.setitem(scorers.SCORERS._names, entry, scorers.ScorerEntry(lambda name: pytest.fail("loaded")))
    monkeypatch.setenv(variable, value)
    with pytest.raises((ValueError, ScorerLoadError)) as info:
        scorers.check_scorer_settings()
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_detoxify_files_with_another_scorer_are_refused_before_loading(monkeypatch, tmp_path):
    monkeypatch.setenv("AURA_DETOXIFY_CHECKPOINT", str(tmp_path / "x.ckpt"))
    with pytest.raises(ValueError, match="AURA_DETOXIFY_CHECKPOINT is set but the toxicity scorer is 'profanity-check'"):
        scorers.check_scorer_settings("profanity-check")
    monkeypatch.setenv("AURA_TOXICITY_SCORER", "profanity-check")
    with pytest.raises(ValueError, match="is set but the toxicity scorer is 'profanity-check'"):
        scorers.check_scorer_settings()


def test_compare_meets_a_bad_setting_through_the_run_spec(monkeypatch):
    """runs.identity.scorer_names, which compare calls before it sets anything aside, checks the settings."""
    import torch

    from aura_eval.runs.identity import scorer_names

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert scorer_names(["aura_rtp"], {"toxicity_scorer": "profanity-check"}) == ["profanity-check"]
    monkeypatch.setenv("AURA_SCORER_DEVICE", "cuda")
    with pytest.raises(ValueError, match="AURA_SCORER_DEVICE='cuda'"):
        scorer_names(["aura_rtp"], {"toxicity_scorer": "profanity-check"})
    assert scorer_names(["wikitext"], {}) == []  # no toxicity task, no scorer
