"""Bad input on the lm-eval side: suite data files, scorer settings and scorer checkpoints.

Each case must fail early, in one line that names the file, the line and the field (or the variable),
and say what would be valid; nothing may be dropped without being counted and shown.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from aura_demo_data import write_data_dir, write_rtp

from aura_eval.harness import scorers
from aura_eval.harness.scorers import ScorerLoadError, check_scorer_settings, get_scorer, register_scorer
from aura_eval.harness.taskdata import DataFileError, load_nontoxic, load_rtp, load_toxic

TASKS_DIR = Path(__file__).resolve().parents[1] / "tasks"


@pytest.fixture(autouse=True)
def no_aura_env(monkeypatch):
    for var in ("AURA_DATA_DIR", "AURA_TOXICITY_SCORER", "AURA_SCORER_DEVICE", "AURA_SCORER_BATCH_SIZE",
                "AURA_DETOXIFY_CHECKPOINT", "AURA_DETOXIFY_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)


def rtp_line(text: str, toxicity) -> str:
    return json.dumps({"prompt": {"text": text, "toxicity": toxicity}, "challenging": False})


# ---------------------------------------------------------------------------------------------- RTP prompts


def test_rtp_toxicity_that_is_not_a_number_names_line_and_field(tmp_path):
    path = tmp_path / "rtp_prompts.jsonl"
    path.write_text(rtp_line("fine", 0.1) + "\n" + rtp_line("bad", "high") + "\n")
    with pytest.raises(DataFileError, match=r"rtp_prompts\.jsonl:2: field 'prompt\.toxicity': 'high' is not .*\[0, 1\]"):
        load_rtp(rtp_file=str(path))
    for bad in (True, 1.7, -0.2):
        path.write_text(rtp_line("bad", bad) + "\n")
        with pytest.raises(DataFileError, match=r"rtp_prompts\.jsonl:1: field 'prompt\.toxicity'"):
            load_rtp(rtp_file=str(path))


def test_rtp_where_every_prompt_lacks_a_toxicity_says_so(tmp_path):
    path = tmp_path / "rtp_prompts.jsonl"
    path.write_text("\n".join(rtp_line(f"p{i}", None) for i in range(3)) + "\n")
    with pytest.raises(DataFileError, match=r"rtp_prompts\.jsonl: all 3 prompts read lack prompt\.toxicity"):
        load_rtp(rtp_file=str(path))


def test_empty_and_non_utf8_suite_files_name_file_and_line(tmp_path):
    empty = tmp_path / "rtp_prompts.jsonl"
    empty.write_text("\n  \n")
    with pytest.raises(DataFileError, match=r"rtp_prompts\.jsonl: the file is empty"):
        load_rtp(rtp_file=str(empty))
    latin = tmp_path / "nontoxic.jsonl"
    latin.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(DataFileError, match=r"nontoxic\.jsonl:2: not UTF-8"):
        load_nontoxic(nontoxic_file=str(latin))
    empty_csv = tmp_path / "toxic.csv"
    empty_csv.write_text("")
    with pytest.raises(DataFileError, match=r"toxic\.csv: the file is empty; expected a header line"):
        load_toxic(toxic_file=str(empty_csv))
    latin_csv = tmp_path / "jigsaw.csv"
    latin_csv.write_bytes(b"text,label\nyou idiot,1\ncaf\xe9 idiot,1\n")
    with pytest.raises(DataFileError, match=r"jigsaw\.csv:3: not UTF-8"):
        load_toxic(toxic_file=str(latin_csv))


def test_prompts_without_toxicity_are_counted_and_warned_about(tmp_path, caplog):
    path = write_rtp(tmp_path / "rtp_prompts.jsonl")  # one of its 7 prompts has no toxicity
    with caplog.at_level(logging.WARNING, logger="aura_eval"):
        data = load_rtp(rtp_file=str(path))
    assert data.run_metadata == {"rtp_dropped_no_toxicity": 1}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "prompt.toxicity" in r.getMessage()]
    assert len(warnings) == 1 and "dropped 1 of 7 prompts" in warnings[0].getMessage()
    path.write_text(rtp_line("scored", 0.4) + "\n")
    assert load_rtp(rtp_file=str(path)).run_metadata == {"rtp_dropped_no_toxicity": 0}


class ConstantScorer:
    name = "constant"

    def score(self, texts):
        return [0.0 for _ in texts]


@pytest.fixture
def rtp_task_config(tmp_path):
    from lm_eval.tasks._yaml_loader import load_yaml

    register_scorer("constant-test", ConstantScorer, replace=True)
    config = load_yaml(TASKS_DIR / "aura_rtp.yaml", resolve_func=True)
    config["metadata"] |= {"toxicity_scorer": "constant-test", "data_dir": str(write_data_dir(tmp_path))}
    yield config
    scorers.unregister_scorer("constant-test")


def test_dropped_prompt_count_reaches_the_task_metadata(rtp_task_config):
    from aura_eval.harness.tasks import AuraToxicityTask

    task = AuraToxicityTask(config=rtp_task_config)
    assert task.config.metadata["rtp_dropped_no_toxicity"] == 1  # lm-eval copies it to configs.<task>.metadata
    assert task.config.metadata["data_source"].endswith("rtp_prompts.jsonl")


# ---------------------------------------------------------------------------------------------- scorer settings


@pytest.mark.parametrize(
    "variable, value, valid",
    [
        ("AURA_SCORER_BATCH_SIZE", "abc", "positive integer"),
        ("AURA_SCORER_BATCH_SIZE", "0", "positive integer"),
        ("AURA_SCORER_BATCH_SIZE", "²", "positive integer"),  # str.isdigit() says yes, int() says no
        ("AURA_SCORER_DEVICE", "bogus", "cpu"),
        ("AURA_SCORER_DEVICE", "meta", "cpu"),
        ("AURA_TOXICITY_SCORER", "perspective", "profanity-check"),
    ],
)
def test_every_scorer_setting_is_checked_when_the_task_is_built(rtp_task_config, monkeypatch, variable, value, valid):
    """Before the first request, not after hours of generation."""
    from aura_eval.harness.tasks import AuraToxicityTask

    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=f"{variable}.*{value}.*{valid}") as info:
        AuraToxicityTask(config=rtp_task_config)
    assert "\n" not in str(info.value)


def test_scorer_settings_without_errors(monkeypatch):
    assert check_scorer_settings() == {"batch_size": scorers.DEFAULT_BATCH_SIZE, "device": scorers._device()}
    monkeypatch.setenv("AURA_SCORER_BATCH_SIZE", " 8 ")
    monkeypatch.setenv("AURA_SCORER_DEVICE", "cpu")
    assert check_scorer_settings() == {"batch_size": 8, "device": "cpu"}


def test_a_cuda_device_without_cuda_is_refused(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("AURA_SCORER_DEVICE", "cuda")
    with pytest.raises(ValueError, match="AURA_SCORER_DEVICE='cuda'.*valid here: cpu"):
        check_scorer_settings()


# ---------------------------------------------------------------------------------------------- scorer checkpoints


def tiny_bert_config(vocab_size: int):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=128, id2label={0: "neutral", 1: "toxic"}, label2id={"neutral": 0, "toxic": 1},
    )


@pytest.fixture(scope="module")
def bert_checkpoints(tmp_path_factory):
    """A tiny BERT saved as a base model (no classification head) and one saved whole with its head."""
    import torch
    from conftest import build_tokenizer
    from transformers import BertForSequenceClassification, BertModel

    made = {}
    for kind, cls in (("base", BertModel), ("classifier", BertForSequenceClassification)):
        path = tmp_path_factory.mktemp(f"tiny-bert-{kind}")
        tok = build_tokenizer(path)
        torch.manual_seed(0)
        cls(tiny_bert_config(len(tok))).save_pretrained(path)
        made[kind] = path
    return made


@pytest.mark.parametrize("label", ["", "#toxic"])
def test_a_checkpoint_without_classification_head_is_refused(bert_checkpoints, label):
    scorers.clear_scorer_cache()
    base = bert_checkpoints["base"]
    with pytest.raises(ScorerLoadError, match=f"{base}.*classifier.weight") as info:
        get_scorer(f"hf:{base}{label}")
    assert "\n" not in str(info.value)


def test_a_whole_classifier_checkpoint_loads(bert_checkpoints):
    scorers.clear_scorer_cache()
    scorer = get_scorer(f"hf:{bert_checkpoints['classifier']}#toxic")
    assert scorer.toxic_index == 1 and len(scorer.score(["you idiot", "hello"])) == 2
