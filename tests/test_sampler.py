"""aura-hf's token draw (`categorical`, one uniform variate per row on the cumulative sum) against the
distribution it must draw from, alone and inside `generate` (aura-hf's use: tests/test_shared_prefill.py)."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from aura_eval.harness import sampling
from aura_eval.harness.sampling import categorical, inverse_cdf_draws


def assert_frequencies_match(draws: torch.Tensor, probs: torch.Tensor) -> None:
    """Empirical frequencies of `draws` against `probs` (normalised), within 5 binomial standard deviations."""
    p = (probs / probs.sum()).double()
    n = draws.numel()
    freq = torch.bincount(draws.flatten(), minlength=len(p)).double() / n
    sd = (p * (1 - p) / n).sqrt()
    assert (freq - p).abs().le(5 * sd + 1e-12).all(), f"frequencies {freq.tolist()} against {p.tolist()}"


@pytest.mark.parametrize("row", [[0.1, 0.0, 0.6, 0.3], [2.0, 0.0, 0.0, 5.0, 1.0, 0.0], [0.0, 0.0, 1e-3, 0.999]])
def test_categorical_draws_from_the_row_zero_entries_never(row):
    probs = torch.tensor(row, dtype=torch.float32)  # unnormalised rows too, as torch.multinomial takes
    g = torch.Generator().manual_seed(0)
    draws = categorical(probs.expand(200_000, -1), generator=g)
    assert draws.shape == (200_000, 1)
    assert_frequencies_match(draws, probs)
    assert set(draws.flatten().tolist()) <= {i for i, v in enumerate(row) if v > 0}


def test_categorical_rows_are_independent_of_each_other():
    probs = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0]]).repeat(50_000, 1)
    draws = categorical(probs, generator=torch.Generator().manual_seed(1)).view(-1, 3)
    assert draws[:, 0].eq(0).all() and draws[:, 1].eq(2).all()
    assert_frequencies_match(draws[:, 2], torch.tensor([0.0, 1.0, 1.0]))


def test_a_uniform_rounding_up_to_the_total_draws_the_last_positive_entry(monkeypatch):
    monkeypatch.setattr(sampling.torch, "rand", lambda *a, **k: torch.ones(a[0], a[1], dtype=torch.float64))
    assert categorical(torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])).flatten().tolist() == [1, 3]


@pytest.mark.parametrize("row", [[0.5, float("nan")], [0.5, -0.1], [0.0, 0.0], [float("inf"), 1.0]])
def test_an_invalid_row_raises_as_torch_multinomial_does(row):
    with pytest.raises(RuntimeError):
        torch.multinomial(torch.tensor([row]), 1)
    with pytest.raises(RuntimeError, match="probability tensor"):
        categorical(torch.tensor([row]))


def test_inverse_cdf_draws_takes_single_draws_only_and_restores_torch():
    original = torch.multinomial
    probs = torch.tensor([[0.2, 0.8, 0.0], [0.0, 0.5, 0.5]])
    with inverse_cdf_draws():
        assert torch.multinomial is not original
        torch.manual_seed(0)
        one = torch.multinomial(probs, num_samples=1)
        torch.manual_seed(0)
        assert torch.equal(one, categorical(probs)), "a single draw per row goes to categorical"
        three = torch.multinomial(probs, 2)  # several draws without replacement: torch's own
        assert three.shape == (2, 2) and set(three[0].tolist()) == {0, 1}
        assert torch.multinomial(torch.tensor([0.0, 1.0]), 1).tolist() == [1]  # a vector: torch's own
    assert torch.multinomial is original


def test_generate_under_inverse_cdf_draws_samples_the_processed_distribution(tiny_llama):
    """The first sampled token of 20,000 copies of one prompt, against the softmax of the top-k (50) logits
    the plain model gives: the distribution `generate` samples from."""
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    tok = AutoTokenizer.from_pretrained(tiny_llama)
    ids = tok(["You are a stupid idiot and"], return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, -1]
    top = logits.topk(50)
    expected = torch.zeros_like(logits).scatter(0, top.indices, top.values.softmax(-1))
    torch.manual_seed(5)
    with inverse_cdf_draws():
        out = model.generate(input_ids=ids.expand(20_000, -1), attention_mask=torch.ones_like(ids).expand(20_000, -1),
                             do_sample=True, top_k=50, temperature=1.0, max_new_tokens=1, pad_token_id=tok.eos_token_id)
    assert_frequencies_match(out[:, -1], expected)
