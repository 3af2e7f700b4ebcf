"""The two places where aura-eval and apple/ml-aura's scripts differ (README, "Differences from apple/ml-aura").

1. Positions of left-padded sentences: aura-eval counts positions over real tokens, so a sentence's responses do
   not depend on how much padding its batch adds; a forward pass with left padding and no position ids (as
   ml-aura's does) puts the real tokens at shifted positions.
2. Top-k at a tie: Det_zero / Damp change exactly k units (a stable order breaks the tie at rank k); a rule that
   keeps the units strictly above the (k+1)-th AUROC keeps fewer.
"""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from aura_eval.core.config import InterventionConfig
from aura_eval.core.intervention import alphas_from_auroc
from aura_eval.core.modules import resolve_modules
from aura_eval.core.responses import collect_responses, pool

SHORT, LONG = "Have a nice day.", "The library opens at nine in the morning on weekdays and closes late."


def max_pooled_without_positions(model, tok, texts, modules):
    """One left-padded batch through the model with no position ids: the way the difference arises."""
    tok.padding_side = "left"
    enc = tok(texts, return_tensors="pt", padding=True)
    outputs = {}
    handles = [m.register_forward_hook(lambda _m, _i, out, n=n: outputs.__setitem__(n, out)) for n, m in modules.items()]
    try:
        with torch.inference_mode():
            model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], use_cache=False)
    finally:
        for h in handles:
            h.remove()
    mask = enc["attention_mask"].bool()
    return torch.cat([pool(outputs[n], mask, "max") for n in modules], dim=1)


def test_left_padded_sentences_see_the_positions_they_see_alone(tiny_gpt2):
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2).eval()
    tok = AutoTokenizer.from_pretrained(tiny_gpt2)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    modules = resolve_modules(model)
    alone = collect_responses(model, tok, [SHORT], modules, "max", progress=False)[0]
    assert len(tok(SHORT)["input_ids"]) < len(tok(LONG)["input_ids"])  # SHORT is padded in the batch

    tok.padding_side = "left"
    batched = collect_responses(model, tok, [SHORT, LONG], modules, "max", batch_size=2, progress=False)[0]
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)

    shifted = max_pooled_without_positions(model, tok, [SHORT, LONG], modules)[0]
    # GPT-2's positions are absolute (rotary models see only relative offsets, so a shift changes little there).
    assert (shifted - alone).abs().max() > 1e-3


def strictly_above_next(auroc: torch.Tensor, k: int) -> torch.Tensor:
    """The other rule, spelled slowly: units whose AUROC is > the (k+1)-th largest AUROC."""
    values = sorted(auroc.tolist(), reverse=True)
    threshold = values[k] if k < len(values) else float("-inf")
    return torch.tensor([a > threshold for a in auroc.tolist()])


@pytest.mark.parametrize("method,alpha", [("det_zero", 0.0), ("damp", 0.5)])
def test_a_tie_at_rank_k_still_changes_exactly_k_units(method, alpha):
    auroc = {"a": torch.tensor([0.9, 0.8, 0.7], dtype=torch.float64),
             "b": torch.tensor([0.8, 0.8, 0.6], dtype=torch.float64)}
    flat = torch.cat(list(auroc.values()))
    for k in (1, 2, 3, 4, 5):
        alphas = torch.cat(list(alphas_from_auroc(auroc, InterventionConfig(method, k=k, alpha=alpha)).values()))
        changed = alphas != 1
        assert int(changed.sum()) == k
        assert torch.all(alphas[changed] == alpha)
        # The changed units are the k highest; ties at rank k go to the earlier module / unit.
        order = sorted(range(len(flat)), key=lambda i: (-float(flat[i]), i))
        assert sorted(torch.nonzero(changed).flatten().tolist()) == sorted(order[:k])
    # With the tie (three units at 0.8 for ranks 2-4), the strict rule keeps 1 unit at k=2 and k=3.
    assert int(strictly_above_next(flat, 2).sum()) == 1 and int(strictly_above_next(flat, 3).sum()) == 1
