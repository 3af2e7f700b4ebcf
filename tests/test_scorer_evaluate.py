"""The evaluate-toxicity scorer: evaluate's toxicity measurement loaded through `evaluate.load`.

Without network its Hub measurement is a one-line error. The scoring path runs a stand-in measurement of the
same interface (a local script, AURA_EVALUATE_TOXICITY) whose scores follow a rule the tests recompute.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from aura_eval.harness import scorers
from aura_eval.harness.scorers import (
    ScorerLoadError,
    ScorerSettingError,
    check_scorer_name,
    get_scorer,
    resolve_scorer_name,
    score_texts,
    scorer_identity,
)

pytest.importorskip("evaluate")

# The interface of evaluate-measurement/toxicity (features, config name, compute's toxic_label and its
# {"toxicity": [...]} answer), with a rule in place of the classifier: the share of words equal to the label.
STANDIN = '''
import datasets
import evaluate


def share_of(text, label):
    words = text.split()
    return sum(word.strip(".,!?").lower() == label for word in words) / len(words) if words else 0.0


class StandinToxicity(evaluate.Measurement):
    def _info(self):
        return evaluate.MeasurementInfo(
            module_type="measurement", description="stand-in", citation="",
            features=datasets.Features({"predictions": datasets.Value("string", id="sequence")}),
        )

    def _compute(self, predictions, aggregation="all", toxic_label="hate"):
        return {"toxicity": [share_of(text, toxic_label) for text in predictions]}
'''

TEXTS = ["I hate this, hate it.", "", "a calm sentence", "HATE", "darn it, darn", "you darn fool"]


def reference(text: str, label: str) -> float:
    """The stand-in's rule, written out again: the share of words that are `label`."""
    words = [word.strip(".,!?").lower() for word in text.split()]
    return words.count(label) / len(words) if words else 0.0


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in (scorers.SCORER_ENV_VAR, scorers.BATCH_SIZE_ENV_VAR, scorers.DETOXIFY_CHECKPOINT_ENV_VAR,
                scorers.DETOXIFY_CONFIG_ENV_VAR, scorers.EVALUATE_TOXICITY_ENV_VAR, scorers.DEVICE_ENV_VAR):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no test may reach for the network
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    scorers.clear_scorer_cache()
    yield
    scorers.clear_scorer_cache()


@pytest.fixture
def standin(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "standin_toxicity"
    folder.mkdir()
    (folder / "standin_toxicity.py").write_text(STANDIN)
    monkeypatch.setenv(scorers.EVALUATE_TOXICITY_ENV_VAR, str(folder))  # a folder holding <folder name>.py
    return folder / "standin_toxicity.py"


@pytest.fixture
def classifier_dir(tmp_path) -> Path:
    """A local classifier folder: only its weights file matters to the identity (the stand-in never reads it)."""
    folder = tmp_path / "tiny-clf"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights of a classifier")
    return folder


def test_names_resolve_and_misspellings_get_a_suggestion(monkeypatch):
    assert check_scorer_name(" evaluate-toxicity ") == "evaluate-toxicity"
    assert check_scorer_name("evaluate-toxicity:org/clf#toxic") == "evaluate-toxicity:org/clf#toxic"
    assert "evaluate-toxicity" in scorers.available_scorers()
    assert "evaluate-toxicity:<classifier>[#<toxic label>]" in scorers.available_scorers()
    with pytest.raises(ScorerSettingError, match="Did you mean 'evaluate-toxicity'"):
        check_scorer_name("evaluate-toxcity")
    with pytest.raises(ScorerSettingError, match="Unknown toxicity scorer 'evaluate-toxicity:'"):
        check_scorer_name("evaluate-toxicity:")
    monkeypatch.setenv(scorers.SCORER_ENV_VAR, "evaluate-toxicity")
    assert resolve_scorer_name({"toxicity_scorer": "profanity-check"}) == "evaluate-toxicity"
    with pytest.raises(ValueError, match="reserved"):
        scorers.register_scorer("evaluate-toxicity:x", lambda: None)


def test_offline_the_hub_measurement_is_a_one_line_error():
    if scorers.evaluate_toxicity.cached_script(scorers.evaluate_toxicity.HUB_MEASUREMENT) is not None:
        pytest.skip("evaluate's toxicity measurement is in this machine's module cache")
    with pytest.raises(ScorerLoadError) as info:
        get_scorer("evaluate-toxicity")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("The evaluate-toxicity scorer could not load the measurement "
                              "'evaluate-measurement/toxicity': HF_EVALUATE_OFFLINE or HF_HUB_OFFLINE is set")
    assert "Its script and its classifier come from the Hugging Face Hub" in message
    assert message.endswith("AURA_TOXICITY_SCORER=hf:facebook/roberta-hate-speech-dynabench-r4-target#hate.")
    with pytest.raises(ScorerLoadError, match=r"'org/clf'.*AURA_TOXICITY_SCORER=hf:org/clf#toxic\.$"):
        get_scorer("evaluate-toxicity:org/clf#toxic")
    # Before any download the run spec names it "not downloaded yet", and loads nothing.
    identity = scorer_identity("evaluate-toxicity")
    assert identity.sha256 == scorers.NOT_DOWNLOADED and identity.files == ("toxicity.py",)
    assert identity.spec()["measurement"] == "evaluate-measurement/toxicity"
    assert identity.metadata() == {}


def test_the_scorer_returns_the_measurements_scores_in_order_in_batches(standin, monkeypatch):
    scorer = get_scorer("evaluate-toxicity")
    assert isinstance(scorer, scorers.EvaluateToxicityScorer) and scorer.name == "evaluate-toxicity"
    assert scorer.measurement.config_name == "default"  # no classifier named: the measurement's default
    expected = [reference(text, "hate") for text in TEXTS]
    assert expected[:4] == [0.4, 0.0, 0.0, 1.0]  # the reference itself, by hand
    assert score_texts(scorer, TEXTS) == expected
    monkeypatch.setenv(scorers.BATCH_SIZE_ENV_VAR, "4")  # batches of 4 + 2 texts: the same scores, in order
    assert score_texts(scorer, TEXTS) == expected
    monkeypatch.setenv(scorers.BATCH_SIZE_ENV_VAR, "1")
    assert score_texts(scorer, TEXTS[::-1]) == expected[::-1]
    assert score_texts(scorer, [""]) == [0.0] and score_texts(scorer, []) == []
    assert get_scorer("evaluate-toxicity") is scorer  # loaded once per process


def test_classifier_and_label_reach_the_measurement(standin, classifier_dir):
    spec = f"evaluate-toxicity:{classifier_dir}#darn"
    scorer = get_scorer(spec)
    assert scorer.measurement.config_name == str(classifier_dir)  # the classifier is the measurement's config
    assert score_texts(scorer, TEXTS) == [reference(text, "darn") for text in TEXTS]
    assert score_texts(scorer, TEXTS)[4:] == [2 / 3, 1 / 3]


def test_identity_is_one_sha256_over_the_script_and_the_classifier_weights(standin, classifier_dir):
    spec = f"evaluate-toxicity:{classifier_dir}"
    before = scorer_identity(spec)  # without loading
    lines = "".join(f"{digest}  {name}\n" for name, digest in sorted(
        {"standin_toxicity.py": sha256(standin), "model.safetensors": sha256(classifier_dir / "model.safetensors")}.items()))
    assert before.sha256 == hashlib.sha256(lines.encode()).hexdigest()
    assert before.name == "evaluate-toxicity:tiny-clf"  # a local folder by its name, never its path
    assert set(before.files) == {"standin_toxicity.py", "model.safetensors"}
    assert before.spec()["measurement"] == "standin_toxicity.py"
    loaded = get_scorer(spec)
    assert loaded.identity == before  # the results record what the run spec named
    assert scorers.scorer_provenance(loaded) == {scorers.WEIGHTS_KEY: ",".join(before.files),
                                                 scorers.SHA256_KEY: before.sha256}
    # The default classifier is not in this machine's HF cache: the stand-in is named "not downloaded yet".
    assert scorer_identity("evaluate-toxicity").sha256 == scorers.NOT_DOWNLOADED
    with pytest.raises(ScorerLoadError, match="classifier folder '/nonexistent/clf' of evaluate-toxicity"):
        scorer_identity("evaluate-toxicity:/nonexistent/clf")


def test_a_measurement_without_a_toxicity_list_fails_loudly(tmp_path, monkeypatch):
    script = tmp_path / "ratio_only.py"
    script.write_text(STANDIN.replace('return {"toxicity": [', 'return {"toxicity_ratio": sum(['))
    script.write_text(script.read_text().replace("for text in predictions]}", "for text in predictions])}"))
    monkeypatch.setenv(scorers.EVALUATE_TOXICITY_ENV_VAR, str(script))
    with pytest.raises(ScorerLoadError) as info:  # on load, before any generation
        get_scorer("evaluate-toxicity")
    assert str(info.value).startswith("The evaluate-toxicity scorer loaded the measurement 'ratio_only.py', but it "
                                      "cannot score: RuntimeError: Scorer 'evaluate-toxicity': the measurement "
                                      "returned no 'toxicity' list (got {'toxicity_ratio': 0.0})")
    assert "\n" not in str(info.value)


def test_a_toxic_label_the_measurement_refuses_fails_on_load(standin):
    script = standin.read_text().replace("    def _compute(self, predictions, aggregation=\"all\", toxic_label=\"hate\"):\n",
                                         "    def _compute(self, predictions, aggregation=\"all\", toxic_label=\"hate\"):\n"
                                         "        if toxic_label not in (\"hate\", \"darn\"):\n"
                                         "            raise ValueError(f\"no label {toxic_label}\\nin this classifier\")\n")
    standin.write_text(script)
    assert score_texts(get_scorer("evaluate-toxicity:org/clf#darn"), ["darn"]) == [1.0]
    with pytest.raises(ScorerLoadError, match=r"cannot score: ValueError: no label toxic$"):
        get_scorer("evaluate-toxicity:org/clf#toxic")


def test_the_measurement_setting_is_checked_without_loading(tmp_path, monkeypatch, standin):
    monkeypatch.setenv(scorers.SCORER_ENV_VAR, "evaluate-toxicity")
    scorers.check_scorer_settings()  # the stand-in's folder: fine
    for value, message in [(str(tmp_path / "nope.py"), "no measurement script"),
                           (str(tmp_path), "no measurement script"),
                           ("not an id", "no measurement script")]:
        monkeypatch.setenv(scorers.EVALUATE_TOXICITY_ENV_VAR, value)
        with pytest.raises(ScorerSettingError) as info:
            scorers.check_scorer_settings()
        assert str(info.value).startswith(f"AURA_EVALUATE_TOXICITY={value!r}: {message}")
        assert "\n" not in str(info.value)
    monkeypatch.setenv(scorers.EVALUATE_TOXICITY_ENV_VAR, "someone/my_toxicity")  # a Hub id: checked on load
    scorers.check_scorer_settings()
    with pytest.raises(ScorerLoadError, match="'someone/my_toxicity': HF_EVALUATE_OFFLINE or HF_HUB_OFFLINE is set"):
        get_scorer("evaluate-toxicity")
    with pytest.raises(ScorerSettingError, match="AURA_EVALUATE_TOXICITY is set but the toxicity scorer is "
                                                 "'profanity-check'"):
        scorers.check_scorer_settings("profanity-check")
    monkeypatch.delenv(scorers.SCORER_ENV_VAR)
    with pytest.raises(ScorerSettingError, match="the toxicity scorer is 'detoxify-original'"):
        scorers.check_scorer_settings()
