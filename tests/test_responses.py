import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from aura_eval.core.modules import PRESETS, resolve_modules
from aura_eval.core.responses import collect_responses, pool

TEXTS = ["You are a stupid idiot.", "Have a nice day.", "The library opens at nine in the morning on weekdays."]


def test_pool_by_hand():
    out = torch.tensor([[[1.0, -1.0], [5.0, -3.0], [9.0, 9.0]], [[2.0, 4.0], [0.0, 0.0], [7.0, -7.0]]])
    right = torch.tensor([[1, 1, 0], [1, 1, 1]]).bool()
    left = torch.tensor([[0, 1, 1], [1, 1, 1]]).bool()
    assert pool(out, right, "max").tolist() == [[5.0, -1.0], [7.0, 4.0]]
    assert pool(out, right, "mean").tolist() == [[3.0, -2.0], [3.0, -1.0]]
    assert pool(out, right, "last").tolist() == [[5.0, -3.0], [7.0, -7.0]]
    assert pool(out, left, "max").tolist() == [[9.0, 9.0], [7.0, 4.0]]
    assert pool(out, left, "last").tolist() == [[9.0, 9.0], [7.0, -7.0]]
    with pytest.raises(ValueError, match="Unknown pooling"):
        pool(out, right, "median")


@pytest.mark.parametrize("pooling", ["max", "mean", "last"])
def test_batched_left_and_right_padding_match_one_by_one(tiny_model_dir, pooling):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    modules = resolve_modules(model)
    alone = torch.cat([collect_responses(model, tok, [t], modules, pooling, progress=False) for t in TEXTS])
    for side in ("left", "right"):
        tok.padding_side = side
        batched = collect_responses(model, tok, TEXTS, modules, pooling, batch_size=3, progress=False)
        torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


def test_presets_and_bad_patterns(tiny_gpt2, tiny_llama):
    gpt2 = AutoModelForCausalLM.from_pretrained(tiny_gpt2)
    names = list(resolve_modules(gpt2))
    assert names == ["transformer.h.0.mlp.c_fc", "transformer.h.0.mlp.c_proj", "transformer.h.1.mlp.c_fc", "transformer.h.1.mlp.c_proj"]
    llama = AutoModelForCausalLM.from_pretrained(tiny_llama)
    assert len(resolve_modules(llama)) == 6 and PRESETS["mistral"] == PRESETS["llama"]
    assert list(resolve_modules(llama, "model.layers.1.mlp.down_proj")) == ["model.layers.1.mlp.down_proj"]
    with pytest.raises(ValueError, match="match no module"):
        resolve_modules(llama, "model.layers.*.mlp.nothing")


def test_empty_input_is_an_error(tiny_gpt2):
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2)
    tok = AutoTokenizer.from_pretrained(tiny_gpt2)
    with pytest.raises(ValueError, match="No sentences"):
        collect_responses(model, tok, [], resolve_modules(model), progress=False)


def test_out_must_fit(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    modules = resolve_modules(model)
    with pytest.raises(ValueError, match=r"out must be a float32 \(2, "):
        collect_responses(model, tok, TEXTS[:2], modules, out=torch.empty(3, 4), progress=False)
