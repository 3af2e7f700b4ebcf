"""Air-gapped scorers: Detoxify from a local checkpoint + config folder and `hf:<local dir>`, through their real
code paths (detoxify.Detoxify.predict, transformers), with provenance, safe loading and bad input.

Everything is built here: a tiny WordPiece vocabulary and BERT config in a temporary folder, a random tiny
classifier, and a checkpoint in Detoxify's own format ({"config": ..., "state_dict": ...}) written with
torch.save of plain dicts and tensors, as Detoxify's release files are.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import urllib.error
from collections import OrderedDict
from pathlib import Path

import pytest
from aura_demo_data import write_data_dir

from aura_eval.harness.scorers import (
    ScorerLoadError,
    ScorerSettingError,
    clear_scorer_cache,
    get_scorer,
    score_texts,
    scorer_provenance,
    weights_digest,
)

REPO = Path(__file__).resolve().parents[1]
TASKS_DIR = REPO / "tasks"
FIXTURES = Path(__file__).parent / "data" / "report" / "paired"
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "you", "are", "a", "stupid", "idiot", "have", "nice", "day",
         "the", "and", "shut", "up", "thank", "for", "help", "weather", "was", "pleasant", "moron", ".", ",", "##s"]
# 'toxic' is not the first class, so reading the wrong column shows; the others are Jigsaw's names.
CLASSES = ["severe_toxic", "obscene", "toxic", "threat", "insult", "identity_hate"]
TOXIC_COLUMN = 2
TEXTS = ["you are a stupid idiot", "have a nice day", "", "shut up , moron", "thank you for the help .",
         "the weather was pleasant and nice", "idiots"]
ENV_VARS = ("AURA_TOXICITY_SCORER", "AURA_SCORER_BATCH_SIZE", "AURA_SCORER_DEVICE", "AURA_DETOXIFY_CHECKPOINT",
            "AURA_DETOXIFY_CONFIG_DIR", "AURA_DATA_DIR")


@pytest.fixture(autouse=True)
def clean_scorer_env(monkeypatch):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AURA_SCORER_DEVICE", "cpu")
    clear_scorer_cache()
    yield
    clear_scorer_cache()


# ------------------------------------------------------------------------------------------- tiny files


def write_config_dir(folder: Path, hidden: int = 16) -> Path:
    """A base-model folder like bert-base-uncased's: config.json, vocab.txt and the tokenizer files."""
    from transformers import BertConfig, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    BertTokenizer(vocab=str(folder / "vocab.txt"), model_max_length=64).save_pretrained(folder)
    BertConfig(vocab_size=len(VOCAB), hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=32, max_position_embeddings=64, initializer_range=0.5).save_pretrained(folder)
    return folder


def random_state_dict(config_dir: Path, model_class: str = "BertForSequenceClassification", seed: int = 0):
    import torch
    import transformers

    cls = getattr(transformers, model_class)
    config = cls.config_class.from_pretrained(config_dir, num_labels=len(CLASSES))
    torch.manual_seed(seed)
    return OrderedDict(cls(config).state_dict())  # Detoxify's files hold an OrderedDict


def detoxify_config(model_type: str, model_name: str = "BertForSequenceClassification",
                    classes: list[str] = CLASSES) -> dict:
    """The parts of Detoxify's training config that its loader reads, plus some it does not."""
    return {
        "name": "Jigsaw_BERT", "loss": "binary_cross_entropy", "batch_size": 10,
        "arch": {"type": "BERT", "args": {"num_classes": len(classes), "model_type": model_type,
                                          "model_name": model_name, "tokenizer_name": "BertTokenizer"}},
        "dataset": {"type": "JigsawDataOriginal", "args": {"classes": classes, "val_fraction": None}},
    }


def write_checkpoint(path: Path, state_dict, config: dict) -> Path:
    import torch

    torch.save({"config": config, "state_dict": state_dict}, path)
    return path


@pytest.fixture(scope="module")
def detoxify_files(tmp_path_factory):
    """(checkpoint, config dir). model_type names the config dir, so that the real Detoxify class can load the
    same checkpoint offline for comparison; our scorer takes the folder from AURA_DETOXIFY_CONFIG_DIR."""
    root = tmp_path_factory.mktemp("detoxify")
    config_dir = write_config_dir(root / "bert-base-uncased")
    checkpoint = write_checkpoint(root / "toxic_tiny-0000.ckpt", random_state_dict(config_dir),
                                  detoxify_config(str(config_dir)))
    return checkpoint, config_dir


def use_files(monkeypatch, checkpoint, config_dir) -> None:
    monkeypatch.setenv("AURA_DETOXIFY_CHECKPOINT", str(checkpoint))
    monkeypatch.setenv("AURA_DETOXIFY_CONFIG_DIR", str(config_dir))


# ------------------------------------------------------------------------------- Detoxify: real code path


def slow_reference(checkpoint: Path, config_dir: Path, texts: list[str]) -> list[float]:
    """One text at a time, by hand: tokenizer, forward pass, sigmoid, the 'toxic' column."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    state_dict = torch.load(checkpoint, weights_only=True)["state_dict"]
    model = BertForSequenceClassification(BertConfig.from_pretrained(config_dir, num_labels=len(CLASSES)))
    model.load_state_dict(state_dict)
    model.eval()
    tokenizer = BertTokenizer.from_pretrained(config_dir)
    scores = []
    for text in texts:
        with torch.no_grad():
            logits = model(**tokenizer(text, return_tensors="pt")).logits
        scores.append(torch.sigmoid(logits)[0, TOXIC_COLUMN].item())
    return scores


def test_detoxify_local_files_score_like_detoxify_itself_and_by_hand(detoxify_files, monkeypatch):
    from detoxify import Detoxify

    checkpoint, config_dir = detoxify_files
    use_files(monkeypatch, checkpoint, config_dir)
    scorer = get_scorer("detoxify-original")
    batched = score_texts(scorer, TEXTS)
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in batched)
    assert max(batched) - min(batched) > 1e-3  # the tiny model tells the texts apart
    assert batched == pytest.approx(slow_reference(checkpoint, config_dir, TEXTS), abs=1e-5)
    # Detoxify's own loader (weights_only=False: fine for this file we wrote) gives the same numbers
    theirs = Detoxify(checkpoint=str(checkpoint), device="cpu").predict(TEXTS)
    assert batched == pytest.approx(theirs["toxicity"], abs=1e-6)
    assert batched != pytest.approx(theirs["obscene"], abs=1e-3)  # another column would differ
    assert scorer._model.class_names == list(theirs)  # Detoxify's names for the outputs
    for size in ("1", "3"):  # one by one, and batches of 3 with a remainder
        monkeypatch.setenv("AURA_SCORER_BATCH_SIZE", size)
        assert score_texts(scorer, TEXTS) == pytest.approx(batched, abs=1e-5)
    assert score_texts(scorer, ["idiots"]) == pytest.approx([batched[-1]], abs=1e-5)  # predict's scalar case


def test_detoxify_provenance_is_file_name_and_sha256(detoxify_files, monkeypatch, tmp_path):
    checkpoint, config_dir = detoxify_files
    use_files(monkeypatch, checkpoint, config_dir)
    first = get_scorer("detoxify-original")
    assert scorer_provenance(first) == {
        "toxicity_scorer_weights": "toxic_tiny-0000.ckpt",
        "toxicity_scorer_sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
    }
    assert get_scorer("detoxify-original") is first
    other = write_checkpoint(tmp_path / "other.ckpt", random_state_dict(config_dir, seed=1),
                             detoxify_config(str(config_dir)))
    monkeypatch.setenv("AURA_DETOXIFY_CHECKPOINT", str(other))
    second = get_scorer("detoxify-original")  # another file is another scorer, not the cached one
    assert second is not first
    assert scorer_provenance(second)["toxicity_scorer_sha256"] == hashlib.sha256(other.read_bytes()).hexdigest()
    assert score_texts(second, TEXTS) != pytest.approx(score_texts(first, TEXTS), abs=1e-4)


def test_detoxify_default_reads_torch_hubs_cache(detoxify_files, monkeypatch, tmp_path):
    import torch

    checkpoint, config_dir = detoxify_files
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setenv("AURA_DETOXIFY_CONFIG_DIR", str(config_dir))
    with pytest.raises(ScorerLoadError) as info:
        get_scorer("detoxify-original")
    message = str(info.value)
    assert "toxic_original-c1212f89.ckpt" in message and "Name or service not known" in message
    assert "AURA_DETOXIFY_CHECKPOINT" in message and "\n" not in message
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True, exist_ok=True)
    shutil.copy(checkpoint, tmp_path / "hub" / "checkpoints" / "toxic_original-c1212f89.ckpt")
    scorer = get_scorer("detoxify-original")
    assert scorer_provenance(scorer)["toxicity_scorer_weights"] == "toxic_original-c1212f89.ckpt"
    assert 0 <= score_texts(scorer, ["you idiot"])[0] <= 1


def no_network(*args, **kwargs):
    raise urllib.error.URLError("Name or service not known")


# -------------------------------------------------------------------------------------------- safety


class Payload:
    """Unpickling this object opens (creates) a file: the kind of code a .ckpt can carry."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_that_would_run_code_is_refused_unrun(detoxify_files, monkeypatch, tmp_path):
    import torch

    checkpoint, config_dir = detoxify_files
    marker = tmp_path / "code-ran"
    config = detoxify_config(str(config_dir)) | {"hook": Payload(marker)}
    evil = write_checkpoint(tmp_path / "evil.ckpt", random_state_dict(config_dir), config)
    use_files(monkeypatch, evil, config_dir)
    with pytest.raises(ScorerLoadError) as info:
        get_scorer("detoxify-original")
    message = str(info.value)
    assert message.startswith(f"Refused the checkpoint {evil}: it asks to import io.open (not a plain tensor file)")
    assert "\n" not in message
    assert not marker.exists()
    torch.load(evil, weights_only=False)  # the payload is live: an unsafe load runs it
    assert marker.exists()


class Shell:
    """Unpickling this object runs a shell command that creates `marker`: what a malicious .ckpt does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


@pytest.mark.parametrize("how", ["torch.save", "pickle-protocol-2", "pickle-protocol-4"])
def test_a_checkpoint_that_would_run_a_shell_command_names_the_import(how, detoxify_files, monkeypatch, tmp_path):
    """torch 2.13 words this "Trying to load unsupported GLOBAL posix.system"; a bare pickle of protocol 4 it
    rejects as "Unsupported operand 149" without a name, which is then read from the opcodes (never run)."""
    import pickle

    checkpoint, config_dir = detoxify_files
    marker = tmp_path / "shell-ran"
    evil = tmp_path / "evil.ckpt"
    payload = {"config": detoxify_config(str(config_dir)) | {"hook": Shell(marker)}, "state_dict": {}}
    if how == "torch.save":
        write_checkpoint(evil, payload["state_dict"], payload["config"])
    else:
        evil.write_bytes(pickle.dumps(payload, protocol=int(how[-1])))
    message = load_error(monkeypatch, evil, config_dir)
    system = f"{os.system.__module__}.system"  # posix.system here, nt.system on Windows
    assert message.startswith(f"Refused the checkpoint {evil}: it asks to import {system} (not a plain tensor file)")
    assert not marker.exists()


def test_pickle_imports_reads_names_without_running_anything(tmp_path):
    import pickle

    from aura_eval.harness.scorers import pickle_imports

    marker = tmp_path / "ran"
    for protocol in (0, 2, 4, 5):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps([OrderedDict(a=1), Shell(marker)], protocol=protocol))
        assert pickle_imports(path) == ["collections.OrderedDict", f"{os.system.__module__}.system"], protocol
    (tmp_path / "junk").write_bytes(b"\x80\x04not a pickle")
    assert pickle_imports(tmp_path / "junk") == []
    assert not marker.exists()


# -------------------------------------------------------------------------------------------- bad input


def load_error(monkeypatch, checkpoint, config_dir, scorer="detoxify-original") -> str:
    use_files(monkeypatch, checkpoint, config_dir)
    with pytest.raises((ScorerLoadError, ScorerSettingError)) as info:
        get_scorer(scorer)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def test_wrong_checkpoint_path(detoxify_files, monkeypatch, tmp_path):
    _, config_dir = detoxify_files
    missing = tmp_path / "toxic_original.ckpt"
    message = load_error(monkeypatch, missing, config_dir)
    assert message.startswith(f"AURA_DETOXIFY_CHECKPOINT={missing}: no such file")


def test_config_folder_without_tokenizer_files_or_config(detoxify_files, monkeypatch, tmp_path):
    checkpoint, config_dir = detoxify_files
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(config_dir / "config.json", bare)
    message = load_error(monkeypatch, checkpoint, bare)
    assert message.startswith(f"AURA_DETOXIFY_CONFIG_DIR={bare}: no tokenizer files for BertTokenizer")
    assert "tokenizer.json or vocab.txt" in message
    (bare / "config.json").unlink()
    assert load_error(monkeypatch, checkpoint, bare).startswith(f"AURA_DETOXIFY_CONFIG_DIR={bare}: no config.json")
    gone = tmp_path / "gone"
    assert load_error(monkeypatch, checkpoint, gone).startswith(f"AURA_DETOXIFY_CONFIG_DIR={gone}: no such folder")
    only_vocab = tmp_path / "only-vocab"  # vocab.txt alone is enough for BertTokenizer
    only_vocab.mkdir()
    for name in ("config.json", "vocab.txt"):
        shutil.copy(config_dir / name, only_vocab)
    use_files(monkeypatch, checkpoint, only_vocab)
    assert score_texts(get_scorer("detoxify-original"), TEXTS) == pytest.approx(
        slow_reference(checkpoint, config_dir, TEXTS), abs=1e-5)


def test_checkpoint_of_another_architecture(detoxify_files, monkeypatch, tmp_path):
    _, config_dir = detoxify_files
    roberta_dir = tmp_path / "roberta"
    roberta_dir.mkdir()
    from transformers import RobertaConfig

    RobertaConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=32, max_position_embeddings=66).save_pretrained(roberta_dir)
    roberta_weights = random_state_dict(roberta_dir, "RobertaForSequenceClassification")
    # RoBERTa weights under a config that says BERT: no key fits
    keys = write_checkpoint(tmp_path / "keys.ckpt", roberta_weights, detoxify_config(str(config_dir)))
    message = load_error(monkeypatch, keys, config_dir)
    fits = f"does not fit a BertForSequenceClassification configured by {config_dir} (another architecture or size?)"
    assert message.startswith(f"The checkpoint {keys} {fits}: 25 weights missing, e.g. bert.embeddings.")
    # BERT weights of another width: shapes do not fit
    wide_dir = write_config_dir(tmp_path / "wide", hidden=32)
    shapes = write_checkpoint(tmp_path / "shapes.ckpt", random_state_dict(wide_dir), detoxify_config(str(config_dir)))
    message = load_error(monkeypatch, shapes, config_dir)
    assert message.startswith(f"The checkpoint {shapes} {fits}: ")
    assert "of another shape, e.g. bert.embeddings.LayerNorm.bias [32] vs [16]" in message
    # a RoBERTa checkpoint under the BERT scorer's name
    named = write_checkpoint(tmp_path / "named.ckpt", roberta_weights,
                             detoxify_config(str(roberta_dir), "RobertaForSequenceClassification"))
    assert load_error(monkeypatch, named, config_dir) == (
        f"The checkpoint {named} holds a 'RobertaForSequenceClassification', but detoxify-original is a "
        "BertForSequenceClassification; it fits detoxify-unbiased.")


def test_checkpoint_that_is_not_detoxifys(detoxify_files, monkeypatch, tmp_path):
    import torch

    _, config_dir = detoxify_files
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    assert load_error(monkeypatch, text, config_dir).startswith(
        f"Cannot read the checkpoint {text}: torch.load(weights_only=True) rejects it (Unsupported operand")
    bare = tmp_path / "bare.ckpt"
    torch.save(random_state_dict(config_dir), bare)  # a state_dict alone
    assert "not in Detoxify's format: expected a dict with 'config' and 'state_dict'" in load_error(
        monkeypatch, bare, config_dir)
    no_classes = detoxify_config(str(config_dir))
    del no_classes["dataset"]
    path = write_checkpoint(tmp_path / "no-classes.ckpt", random_state_dict(config_dir), no_classes)
    assert load_error(monkeypatch, path, config_dir).startswith(f"The checkpoint {path} lacks config.dataset")
    renamed = ["severe_toxic", "obscene", "rude", "threat", "insult", "identity_hate"]
    path = write_checkpoint(tmp_path / "no-toxic.ckpt", random_state_dict(config_dir),
                            detoxify_config(str(config_dir), classes=renamed))
    assert "with exactly one 'toxic' or 'toxicity'" in load_error(monkeypatch, path, config_dir)
    too_many = detoxify_config(str(config_dir), classes=CLASSES + ["sexual_explicit"])
    too_many["arch"]["args"]["num_classes"] = len(CLASSES)
    path = write_checkpoint(tmp_path / "too-many.ckpt", random_state_dict(config_dir), too_many)
    assert "expected at most 6 class names" in load_error(monkeypatch, path, config_dir)


def test_every_checkpoint_shape_error_is_one_line(detoxify_files, monkeypatch, tmp_path):
    """Files in Detoxify's outer format whose inside is wrong: each a one-line message naming the part."""
    import torch

    _, config_dir = detoxify_files
    weights = random_state_dict(config_dir)
    config = detoxify_config(str(config_dir))

    def error_for(name: str, state_dict, config) -> tuple[Path, str]:
        path = write_checkpoint(tmp_path / f"{name}.ckpt", state_dict, config)
        return path, load_error(monkeypatch, path, config_dir)

    path, message = error_for("list", list(weights.values()), config)
    assert message == (f"The checkpoint {path}: 'state_dict' is a list, not a dict of parameter name -> tensor "
                       "(as Detoxify's .ckpt holds).")
    path, message = error_for("not-tensor", OrderedDict(weights, extra=3), config)
    assert message.startswith(f"The checkpoint {path}: state_dict['extra'] is a int; 'state_dict' must map")
    path, message = error_for("int-key", {**weights, 7: torch.zeros(1)}, config)
    assert message.startswith(f"The checkpoint {path}: state_dict[7] is a Tensor")
    path, message = error_for("empty", {}, config)
    assert message == f"The checkpoint {path}: 'state_dict' is empty; it holds no weights."
    path, message = error_for("config-list", weights, [config])
    assert message.startswith(f"The checkpoint {path}: 'config' is a list, not a dict")
    path, message = error_for("arch-list", weights, config | {"arch": [config["arch"]]})
    assert message.startswith(f"The checkpoint {path}: config.arch is a list, not a dict")
    path, message = error_for("no-args", weights, config | {"arch": {"type": "BERT"}})
    assert message.startswith(f"The checkpoint {path} lacks config.arch.args;")
    bad_classes = copy.deepcopy(config)
    bad_classes["dataset"]["args"]["classes"] = [["toxic"], "obscene"]  # unhashable names
    path, message = error_for("classes", weights, bad_classes)
    assert message.startswith(f"The checkpoint {path}: config.dataset.args.classes is [['toxic'], 'obscene'];")
    bool_classes = copy.deepcopy(config)
    bool_classes["arch"]["args"]["num_classes"] = True
    path, message = error_for("bool", weights, bool_classes)
    assert message == f"The checkpoint {path}: config.arch.args.num_classes is True."
    # a tensor of another shape and a missing weight: named, with the shapes
    reshaped = OrderedDict(weights)
    reshaped["classifier.weight"] = torch.zeros(len(CLASSES), 8)
    path, message = error_for("shape", reshaped, config)
    assert "1 of another shape, e.g. classifier.weight [6, 8] vs [6, 16]" in message
    missing = OrderedDict(weights)
    del missing["classifier.bias"]
    path, message = error_for("missing", missing, config)
    assert message.startswith(f"The checkpoint {path} does not fit a BertForSequenceClassification")
    assert "1 weights missing, e.g. classifier.bias" in message


def test_fewer_class_names_than_outputs_like_detoxify_unbiased(detoxify_files, monkeypatch, tmp_path):
    """Detoxify's unbiased model has 16 outputs but names the first 7: predict names only those."""
    checkpoint, config_dir = detoxify_files
    config = detoxify_config(str(config_dir), classes=CLASSES[:3])
    config["arch"]["args"]["num_classes"] = len(CLASSES)
    path = write_checkpoint(tmp_path / "fewer.ckpt", random_state_dict(config_dir), config)
    use_files(monkeypatch, path, config_dir)
    scores = score_texts(get_scorer("detoxify-original"), TEXTS)
    assert scores == pytest.approx(slow_reference(checkpoint, config_dir, TEXTS), abs=1e-5)


def test_detoxify_files_with_another_scorer_are_an_error(detoxify_files, monkeypatch):
    checkpoint, config_dir = detoxify_files
    message = load_error(monkeypatch, checkpoint, config_dir, scorer="profanity-check")
    assert message.startswith("AURA_DETOXIFY_CHECKPOINT is set but the toxicity scorer is 'profanity-check'")


def test_bad_files_fail_when_the_task_is_built(detoxify_files, data_dir, monkeypatch, tmp_path):
    """Before any generation: lm-eval builds every task (and so loads the scorer) before the first request."""
    from lm_eval.tasks._yaml_loader import load_yaml

    from aura_eval.harness.tasks import AuraToxicityTask

    _, config_dir = detoxify_files
    use_files(monkeypatch, tmp_path / "missing.ckpt", config_dir)
    config = load_yaml(TASKS_DIR / "aura_rtp.yaml", resolve_func=True)
    config["metadata"] |= {"data_dir": str(data_dir)}
    with pytest.raises(ScorerLoadError, match=r"AURA_DETOXIFY_CHECKPOINT=.*missing\.ckpt: no such file"):
        AuraToxicityTask(config=config)


def test_task_records_scorer_and_checkpoint(detoxify_files, data_dir, monkeypatch):
    from lm_eval.tasks._yaml_loader import load_yaml

    from aura_eval.harness.tasks import AuraToxicityTask

    checkpoint, config_dir = detoxify_files
    config = load_yaml(TASKS_DIR / "aura_rtp.yaml", resolve_func=True)
    config["metadata"] |= {"data_dir": str(data_dir), "toxicity_scorer_sha256": "stale"}
    use_files(monkeypatch, checkpoint, config_dir)
    metadata = AuraToxicityTask(config=copy.deepcopy(config)).config.metadata
    assert metadata["toxicity_scorer"] == "detoxify-original"
    assert metadata["toxicity_scorer_weights"] == checkpoint.name
    assert metadata["toxicity_scorer_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    for var in ("AURA_DETOXIFY_CHECKPOINT", "AURA_DETOXIFY_CONFIG_DIR"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AURA_TOXICITY_SCORER", "profanity-check")
    metadata = AuraToxicityTask(config=copy.deepcopy(config)).config.metadata
    assert "toxicity_scorer_sha256" not in metadata and "toxicity_scorer_weights" not in metadata


# -------------------------------------------------------------------------------------------- hf: scorer


@pytest.fixture(scope="module")
def hf_classifier(tmp_path_factory):
    """A tiny BertForSequenceClassification saved whole (config, weights, tokenizer), labels neutral/toxic."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder = tmp_path_factory.mktemp("hf-classifier")
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    BertTokenizer(vocab=str(folder / "vocab.txt"), model_max_length=64).save_pretrained(folder)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, initializer_range=0.5,
                        id2label={0: "neutral", 1: "toxic"}, label2id={"neutral": 0, "toxic": 1})
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def test_hf_provenance_is_the_weights_sha256(hf_classifier):
    scorer = get_scorer(f"hf:{hf_classifier}")
    assert scorer_provenance(scorer) == {
        "toxicity_scorer_weights": "model.safetensors",
        "toxicity_scorer_sha256": hashlib.sha256((hf_classifier / "model.safetensors").read_bytes()).hexdigest(),
    }


def test_hf_sharded_weights_digest(hf_classifier, tmp_path):
    from transformers import BertForSequenceClassification

    sharded = tmp_path / "sharded"
    BertForSequenceClassification.from_pretrained(hf_classifier).save_pretrained(sharded, max_shard_size="5KB")
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(hf_classifier / name, sharded)
    shards = sorted(sharded.glob("model-*.safetensors"))
    assert len(shards) > 1
    expected = hashlib.sha256("".join(
        f"{hashlib.sha256(s.read_bytes()).hexdigest()}  {s.name}\n" for s in shards).encode()).hexdigest()
    assert weights_digest(list(reversed(shards))) == expected
    scorer = get_scorer(f"hf:{sharded}")
    assert scorer_provenance(scorer) == {"toxicity_scorer_weights": ",".join(s.name for s in shards),
                                         "toxicity_scorer_sha256": expected}


def test_hf_classifier_without_a_toxic_label_names_it(hf_classifier, tmp_path):
    from transformers import AutoConfig

    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(hf_classifier, unlabelled)
    config = AutoConfig.from_pretrained(unlabelled)
    config.id2label, config.label2id = {0: "LABEL_0", 1: "LABEL_1"}, {"LABEL_0": 0, "LABEL_1": 1}
    config.save_pretrained(unlabelled)
    with pytest.raises(ScorerLoadError) as info:
        get_scorer(f"hf:{unlabelled}")
    message = str(info.value)
    assert message.startswith(f"The classifier {str(unlabelled)!r}: Cannot tell which label is toxic")
    assert "hf:<model>#<label>" in message and "\n" not in message


# ------------------------------------------------------------------------------- report: provenance shown


def copy_fixture(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    shutil.copytree(FIXTURES, root, ignore=shutil.ignore_patterns("*.py"))
    return root


def set_scorer(root: Path, variant: str, **metadata) -> None:
    (path,) = (root / "tiny" / variant).glob("results_*.json")
    data = json.loads(path.read_text())
    data["configs"]["aura_rtp"]["metadata"].update(metadata)
    path.write_text(json.dumps(data))


def test_report_refuses_to_pair_runs_scored_by_other_checkpoints(tmp_path):
    from aura_eval.report import leaderboard, paired
    from aura_eval.report.results import find_result_files, load_run, merge_runs

    root = copy_fixture(tmp_path)
    shared = {"toxicity_scorer": "detoxify-original", "toxicity_scorer_weights": "toxic_original-c1212f89.ckpt"}
    set_scorer(root, "base", **shared, toxicity_scorer_sha256="ab" * 32)
    set_scorer(root, "aura", **shared, toxicity_scorer_sha256="ab" * 6 + "cd" * 26)  # same first 12 digits

    def rows():
        runs = [run for path in find_result_files(root) if (run := load_run(path, root))]
        return {variant: tasks for (model, variant), tasks in merge_runs(runs).items() if model == "tiny"}

    note = paired.model_statistics(rows(), paired.PairedSettings(resamples=200))["aura"]["paired_notes"]
    label = "detoxify-original (toxic_original-c1212f89.ckpt, sha256 abababababab)"
    full = "detoxify-original (toxic_original-c1212f89.ckpt, sha256 {})"
    assert note.startswith(f"aura_rtp: not paired, toxicity scored by {full.format('ab' * 32)} (base) and "
                           f"{full.format('ab' * 6 + 'cd' * 26)} (aura)")
    frame = leaderboard.build_report(root, tmp_path / "out", formats=("md",))
    tiny = frame[frame["model"] == "tiny"]
    assert set(tiny.loc[tiny["variant"].isin(["base", "aura"]), "toxicity_scorer"]) == {label}
    text = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "aura_rtp: not paired, toxicity scored by" in text

    set_scorer(root, "aura", toxicity_scorer_sha256="ef" * 32)
    frame = leaderboard.build_report(root, tmp_path / "out2", formats=("md",))
    shown = set(frame.loc[frame["model"] == "tiny", "toxicity_scorer"])
    assert "detoxify-original (toxic_original-c1212f89.ckpt, sha256 efefefefefef)" in shown
    header = (tmp_path / "out2" / "leaderboard.md").read_text().split("## Leaderboard")[0]
    assert "Toxicity scorer differs between rows (see its column): their toxicity numbers are not comparable" in header

    set_scorer(root, "aura", toxicity_scorer_sha256="ab" * 32)  # the same checkpoint pairs again
    note = paired.model_statistics(rows(), paired.PairedSettings(resamples=200))["aura"]["paired_notes"]
    assert "toxicity scored by" not in note


# -------------------------------------------------------------------------- end to end: lm_eval aura-hf


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_data_dir(tmp_path_factory.mktemp("aura-data"))


def run_aura_rtp(model_dir: Path, output: Path, **env: str) -> tuple[dict, list[dict]]:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
    clean["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), clean.get("PYTHONPATH", "")) if p)
    clean |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
              "AURA_SCORER_DEVICE": "cpu", **env}
    cmd = [sys.executable, "-m", "lm_eval", "--model", "aura-hf", "--model_args",
           f"pretrained={model_dir},intervention=none", "--device", "cpu", "--include_path", str(TASKS_DIR),
           "--tasks", "aura_rtp", "--limit", "2", "--output_path", str(output), "--log_samples"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=clean, timeout=500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    (results_file,) = output.rglob("results_*.json")
    (samples_file,) = output.rglob("samples_aura_rtp_*.jsonl")
    samples = [json.loads(line) for line in samples_file.read_text().splitlines()]
    return json.loads(results_file.read_text()), samples


def check_scored_run(results: dict, samples: list[dict], scorer_name: str, weights: str, sha256: str, scorer):
    """Recorded scorer + checkpoint; every logged score in [0, 1] and equal to scoring its text alone."""
    metadata = results["configs"]["aura_rtp"]["metadata"]
    assert metadata["toxicity_scorer"] == scorer_name
    assert metadata["toxicity_scorer_weights"] == weights
    assert metadata["toxicity_scorer_sha256"] == sha256
    assert len(samples) == 2
    texts, scores = [], []
    for sample in samples:
        scored = ast.literal_eval(sample["filtered_resps"][0])  # lm-eval logs the filter output as text
        assert scored["scorer"] == scorer_name and len(scored["texts"]) == 25
        texts += scored["texts"]
        scores += scored["scores"]
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)
    alone = [score_texts(scorer, [text])[0] for text in texts]  # in this process, one text per call
    assert scores == pytest.approx(alone, abs=1e-5)
    expected_max = sum(max(scores[i * 25:(i + 1) * 25]) for i in range(2)) / 2
    assert results["results"]["aura_rtp"]["expected_max_toxicity,none"] == pytest.approx(expected_max, abs=1e-9)


def test_lm_eval_aura_rtp_with_local_detoxify(tiny_llama, data_dir, detoxify_files, monkeypatch, tmp_path):
    checkpoint, config_dir = detoxify_files
    files = {"AURA_DETOXIFY_CHECKPOINT": str(checkpoint), "AURA_DETOXIFY_CONFIG_DIR": str(config_dir)}
    results, samples = run_aura_rtp(tiny_llama, tmp_path, AURA_DATA_DIR=str(data_dir), **files)
    for var, value in files.items():
        monkeypatch.setenv(var, value)
    sha256 = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    check_scored_run(results, samples, "detoxify-original", checkpoint.name, sha256, get_scorer("detoxify-original"))


def test_lm_eval_aura_rtp_with_hf_local_dir(tiny_llama, data_dir, hf_classifier, tmp_path):
    name = f"hf:{hf_classifier}"
    results, samples = run_aura_rtp(tiny_llama, tmp_path, AURA_DATA_DIR=str(data_dir), AURA_TOXICITY_SCORER=name)
    sha256 = hashlib.sha256((hf_classifier / "model.safetensors").read_bytes()).hexdigest()
    check_scored_run(results, samples, name, "model.safetensors", sha256, get_scorer(name))


# ------------------------------------------------------------------------------- one identity, read twice


def test_run_spec_and_results_name_the_same_detoxify_files(detoxify_files, monkeypatch, tmp_path):
    """runs.identity.scorer_identity (before loading) and the results (after) read one ScorerIdentity."""
    import torch

    from aura_eval.runs.identity import scorer_identity

    checkpoint, config_dir = detoxify_files
    use_files(monkeypatch, checkpoint, config_dir)
    sha256 = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert scorer_identity("detoxify-original") == {"name": "detoxify-original", "weights": checkpoint.name,
                                                    "sha256": sha256}
    assert scorer_provenance(get_scorer("detoxify-original")) == {"toxicity_scorer_weights": checkpoint.name,
                                                                  "toxicity_scorer_sha256": sha256}
    # without AURA_DETOXIFY_CHECKPOINT: torch hub's cache, named before the first download, hashed after it
    monkeypatch.delenv("AURA_DETOXIFY_CHECKPOINT")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    before = scorer_identity("detoxify-original")
    assert before == {"name": "detoxify-original", "weights": "toxic_original-c1212f89.ckpt",
                      "sha256": "not downloaded yet"}
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    shutil.copy(checkpoint, tmp_path / "hub" / "checkpoints" / before["weights"])
    assert scorer_identity("detoxify-original")["sha256"] == sha256
    assert scorer_provenance(get_scorer("detoxify-original"))["toxicity_scorer_sha256"] == sha256


def test_run_spec_and_results_name_the_same_hf_files(hf_classifier, tmp_path):
    from transformers import BertForSequenceClassification

    from aura_eval.runs.identity import scorer_identity

    weights = hashlib.sha256((hf_classifier / "model.safetensors").read_bytes()).hexdigest()
    spec = scorer_identity(f"hf:{hf_classifier}#toxic")
    assert spec == {"name": f"hf:{hf_classifier.name}#toxic", "weights": "model.safetensors", "sha256": weights}
    assert scorer_provenance(get_scorer(f"hf:{hf_classifier}#toxic")) == {
        "toxicity_scorer_weights": spec["weights"], "toxicity_scorer_sha256": spec["sha256"]}
    # one file set, the weights: a file beside them changes nothing, shards are hashed as one
    changed = tmp_path / "changed"
    shutil.copytree(hf_classifier, changed)
    (changed / "README.txt").write_text("notes")
    assert scorer_identity(f"hf:{changed}")["sha256"] == weights
    BertForSequenceClassification.from_pretrained(hf_classifier).save_pretrained(changed, max_shard_size="5KB")
    (changed / "model.safetensors").unlink()
    shards = sorted(changed.glob("model-*.safetensors"))
    assert scorer_identity(f"hf:{changed}") == {"name": "hf:changed", "weights": ",".join(s.name for s in shards),
                                                "sha256": weights_digest(shards)}
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(ScorerLoadError, match="holds no weight files"):
        scorer_identity(f"hf:{empty}")
    with pytest.raises(ScorerLoadError, match=r"The classifier folder '.*missing' does not exist"):
        scorer_identity(f"hf:{tmp_path / 'missing'}#toxic")  # a typo fails before compare sets anything aside


def test_a_hub_classifier_not_in_the_cache_is_named_without_asking_the_hub(monkeypatch, tmp_path):
    from aura_eval.runs.identity import scorer_identity

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert scorer_identity("hf:someone/not-cached") == {"name": "hf:someone/not-cached", "weights": None,
                                                        "sha256": "not downloaded yet", "hub": "someone/not-cached"}
