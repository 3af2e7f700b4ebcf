"""Bounded learning input: one per-text limit for every file format, text cut before tokenising (without
changing a token the model sees), and a warning when a class has a single sentence."""

from __future__ import annotations

import csv
import json
import logging

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from aura_eval.core import learn
from aura_eval.core.labelled import MAX_TEXT_CHARS, DataFileError, load_labelled
from aura_eval.core.modules import resolve_modules
from aura_eval.core.responses import collect_responses

WORDS = "You are a stupid idiot and everyone hates you . The weather was pleasant and kind".split()


def long_text(n_chars: int) -> str:
    text = " ".join(WORDS[i % len(WORDS)] for i in range(n_chars // 3))
    return text[:n_chars]


def write(path, rows):
    suffix = path.suffix
    if suffix in (".csv", ".tsv"):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, delimiter="\t" if suffix == ".tsv" else ",")
            writer.writerow(["text", "label"])
            writer.writerows(rows)
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    elif suffix == ".json":
        path.write_text(json.dumps([{"text": t, "label": y} for t, y in rows]))
    else:
        import pandas as pd

        pd.DataFrame({"text": [t for t, _ in rows], "label": [y for _, y in rows]}).to_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
def test_one_text_limit_for_every_format(tmp_path, suffix):
    longest = long_text(MAX_TEXT_CHARS)  # CSV used to refuse anything over its 128 KB field limit
    assert load_labelled(str(write(tmp_path / f"ok{suffix}", [(longest, 1), ("nice", 0)])))[0][0] == longest.strip()
    too_long = write(tmp_path / f"long{suffix}", [("fine", 0), (longest + "x", 1)])
    with pytest.raises(DataFileError, match=rf"field 'text' holds 1,000,001 characters, more than the {MAX_TEXT_CHARS:,}"):
        load_labelled(str(too_long))


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2):
    return AutoModelForCausalLM.from_pretrained(tiny_gpt2).eval(), AutoTokenizer.from_pretrained(tiny_gpt2)


def test_the_tokenizer_never_sees_more_than_the_cap(gpt2, monkeypatch):
    model, tokenizer = gpt2
    seen, real = [], learn.collect_responses

    def spy(model, tokenizer, texts, *args, **kwargs):
        seen.extend(map(len, texts))
        return real(model, tokenizer, texts, *args, **kwargs)

    monkeypatch.setattr(learn, "collect_responses", spy)
    rows = [(long_text(MAX_TEXT_CHARS), 1), ("You idiot.", 1), ("Nice day.", 0), ("Thanks a lot.", 0)]
    learn.learn_from_model(model, tokenizer, rows, max_length=32, progress=False)
    cap = learn.char_cap(tokenizer, 32)
    assert cap is not None and max(seen) == cap < 10_000


@pytest.mark.parametrize("max_length", [8, 64, 256])
def test_the_cap_keeps_every_token_truncation_keeps(gpt2, max_length):
    """Responses on capped texts equal those on the whole texts (the tokenizer truncates the rest anyway)."""
    model, tokenizer = gpt2
    texts = [long_text(40_000), "x" * 30_000, " " * 20_000 + "end", "é" * 25_000]
    capped = learn.capped_texts(texts, tokenizer, max_length)
    assert all(len(c) < len(t) for c, t in zip(capped, texts))
    hooked = resolve_modules(model)
    whole = collect_responses(model, tokenizer, texts, hooked, "max", 4, max_length, False)
    cut = collect_responses(model, tokenizer, capped, hooked, "max", 4, max_length, False)
    assert torch.equal(whole, cut)


def test_one_sentence_per_class_is_warned(gpt2, caplog):
    model, tokenizer = gpt2
    with caplog.at_level(logging.WARNING):
        learn.learn_from_model(model, tokenizer, [("You idiot.", 1), ("Nice day.", 0)], progress=False)
    assert any("one sentence in a class" in r.getMessage() and "0, 0.5 or 1" in r.getMessage() for r in caplog.records)
    caplog.clear()
    rows = [("You idiot.", 1), ("Shut up, moron.", 1), ("Nice day.", 0), ("Thanks a lot.", 0)]
    with caplog.at_level(logging.WARNING):
        learn.learn_from_model(model, tokenizer, rows, progress=False)
    assert not [r for r in caplog.records if "one sentence" in r.getMessage()]
