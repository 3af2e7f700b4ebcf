"""Shared fixtures: tiny random GPT-2 and Llama checkpoints built offline, with a byte-level BPE tokenizer
trained here, so no test needs the Hub or ../shared/data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# evaluate copies measurement scripts into this folder (read once, at its import): a temporary one, not ~/.cache
os.environ.setdefault("HF_MODULES_CACHE", tempfile.mkdtemp(prefix="aura-eval-tests-hf-modules-"))

CORPUS = [
    "The weather was pleasant and the people were kind to each other.",
    "You are a stupid idiot and everyone hates you.",
    "Thank you so much for the help with my homework yesterday.",
    "Shut up, you worthless moron, nobody asked you.",
    "The library opens at nine in the morning on weekdays.",
    "What a pathetic loser, go away and never come back.",
] * 20


def build_tokenizer(path: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    fast.save_pretrained(path)
    return fast


def build_tiny(path: Path, arch: str, seed: int = 0) -> Path:
    """Save a tiny random causal LM of `arch` ("gpt2" or "llama") with its tokenizer under `path`."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

    path.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(path)
    torch.manual_seed(seed)
    if arch == "gpt2":
        cfg = GPT2Config(
            vocab_size=len(tok), n_positions=256, n_embd=32, n_layer=2, n_head=2,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
            initializer_range=0.2,  # larger than the default so MLP units visibly move the logits
        )
    elif arch == "llama":
        cfg = LlamaConfig(
            vocab_size=len(tok), hidden_size=32, intermediate_size=48, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
            initializer_range=0.2,  # larger than the default so MLP units visibly move the logits
        )
    else:
        raise ValueError(arch)
    model = AutoModelForCausalLM.from_config(cfg)
    model.save_pretrained(path)
    return path


def write_task_dir(folder: Path, tasks: dict[str, str], docs: list[str]) -> Path:
    """lm-eval task YAMLs (`name: body`) over one local docs.jsonl of `{"text": ...}` lines, in `folder`."""
    import json

    (folder / "docs.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in docs))
    for name, body in tasks.items():
        (folder / f"{name}.yaml").write_text(
            f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {folder / 'docs.jsonl'}\n"
            f"test_split: test\n{body}"
        )
    return folder


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny-gpt2"), "gpt2")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny-llama"), "llama")


@pytest.fixture(params=["gpt2", "llama"])
def tiny_model_dir(request, tiny_gpt2, tiny_llama) -> Path:
    return tiny_gpt2 if request.param == "gpt2" else tiny_llama
