"""`learn --max-length` past the model's positions: clamped to the context with a one-line note, never an
IndexError from the position table. A tiny GPT-2 with 16 positions and sentences longer than that."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest
import torch
from conftest import CORPUS, build_tokenizer

from aura_eval.cli import main
from aura_eval.core.intervention import Intervention
from aura_eval.core.learn import fit_max_length, learn_from_model, model_context

POSITIONS = 16


@pytest.fixture(scope="module")
def short_gpt2(tmp_path_factory) -> Path:
    from transformers import AutoModelForCausalLM, GPT2Config

    path = tmp_path_factory.mktemp("short-gpt2")
    tok = build_tokenizer(path)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tok), n_positions=POSITIONS, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, initializer_range=0.2)
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    return path


def long_rows() -> list[tuple[str, int]]:
    """Sentences of two or three corpus lines: well past 16 tokens each. Odd corpus lines are the toxic ones."""
    return [(" ".join(CORPUS[i : i + 3 : 2] * 2), i % 2) for i in range(12)]


def load(path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def test_the_context_is_read_from_the_config_else_the_tokenizer(short_gpt2):
    model, tokenizer = load(short_gpt2)
    assert model_context(model, tokenizer) == POSITIONS
    assert fit_max_length(8, model, tokenizer) == 8 and fit_max_length(POSITIONS, model, tokenizer) == POSITIONS
    assert fit_max_length(None, model, tokenizer) == POSITIONS

    class Bare:
        config = object()

    tokenizer.model_max_length = 40
    assert model_context(Bare(), tokenizer) == 40
    tokenizer.model_max_length = int(1e30)  # transformers' "no limit"
    assert model_context(Bare(), tokenizer) is None and fit_max_length(1000, Bare(), tokenizer) == 1000


def test_a_max_length_past_the_context_is_clamped_with_a_note(short_gpt2, caplog):
    model, tokenizer = load(short_gpt2)
    rows = long_rows()
    assert min(len(tokenizer(text)["input_ids"]) for text, _ in rows) > POSITIONS
    with pytest.raises(IndexError):  # what the clamp prevents: the position table has 16 rows
        model(**tokenizer(rows[0][0], return_tensors="pt"))
    with caplog.at_level(logging.WARNING, logger="aura_eval.core.learn"):
        clamped = learn_from_model(model, tokenizer, rows, max_length=1000, progress=False)
    notes = [r.getMessage() for r in caplog.records if "positions" in r.getMessage()]
    assert notes == [f"max length 1000 (--max-length) is more than the model's {POSITIONS} positions: sentences "
                     f"are cut to {POSITIONS} tokens"]
    assert clamped.meta["max_length"] == POSITIONS
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aura_eval.core.learn"):
        exact = learn_from_model(model, tokenizer, rows, max_length=POSITIONS, progress=False)
    assert not [r for r in caplog.records if "positions" in r.getMessage()]
    for name, values in exact.auroc.items():  # the clamped run is the run at the context's length
        assert torch.equal(clamped.auroc[name], values), name


def test_cli_learn_with_max_length_1000(short_gpt2, tmp_path, capsys, caplog):
    data = tmp_path / "train.csv"
    with data.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(long_rows())
    out = tmp_path / "short.safetensors"
    with caplog.at_level(logging.WARNING):
        code = main(["learn", "--model", str(short_gpt2), "--data", str(data), "--out", str(out),
                     "--max-length", "1000", "--device", "cpu", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert any(f"model's {POSITIONS} positions" in r.getMessage() for r in caplog.records)
    assert Intervention.load(out).meta["max_length"] == POSITIONS
