"""The decoding loop's draw (`categorical`, one uniform variate per row on the cumulative sum) and its
top-k candidates against what they must reproduce: the row's distribution, transformers' TopKLogitsWarper,
and inside `generate` the warped softmax of the model's logits at each step."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.generation import TopKLogitsWarper

from aura_eval.harness import decoding
from aura_eval.harness.decoding import Decoder, categorical, top_k_candidates


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
    monkeypatch.setattr(decoding.torch, "rand", lambda *a, **k: torch.ones(a[0], a[1], dtype=torch.float64))
    assert categorical(torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])).flatten().tolist() == [1, 3]


@pytest.mark.parametrize("row", [[0.5, float("nan")], [0.5, -0.1], [0.0, 0.0], [float("inf"), 1.0]])
def test_an_invalid_row_raises_as_torch_multinomial_does(row):
    with pytest.raises(RuntimeError):
        torch.multinomial(torch.tensor([row]), 1)
    with pytest.raises(RuntimeError, match="probability tensor"):
        categorical(torch.tensor([row]))


def kept(scores: torch.Tensor, warper) -> list[set[int]]:
    """The token ids transformers' warper leaves finite, per row: the reference."""
    out = warper(None, scores.clone())
    return [set(torch.isfinite(r).nonzero().flatten().tolist()) for r in out]


@pytest.mark.parametrize("k,min_keep", [(1, 1), (3, 1), (2, 4), (50, 1), (6, 1)])
def test_top_k_candidates_keep_the_set_the_warper_keeps(k, min_keep):
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(64, 6, generator=g)
    scores[3, :2] = -float("inf")  # entries already removed by an earlier processor
    warper = TopKLogitsWarper(k, min_tokens_to_keep=min_keep)
    values, ids = top_k_candidates(scores, warper)
    finite = [set(i[torch.isfinite(v)].tolist()) for i, v in zip(ids, values)]  # the entries of probability > 0
    assert finite == kept(scores, warper)
    assert torch.equal(values, scores.gather(1, ids))


@pytest.mark.parametrize("row", [[1.0, 3.0, 2.0, 2.0], [3.0, 3.0, 3.0, 3.0], [2.0, 1.0, 1.0, 1.0]])
def test_a_tie_at_the_kth_value_is_left_to_the_full_vocabulary_path(row):
    """TopKLogitsWarper keeps every score >= the k-th largest: at a tie it keeps more than k. The
    candidates then refuse (None), and the loop warps the whole row as transformers does."""
    scores = torch.tensor([row, [4.0, 1.0, 2.0, 3.0]])
    warper = TopKLogitsWarper(2)
    assert len(kept(scores, warper)[0]) > 2
    assert top_k_candidates(scores, warper) is None
    assert top_k_candidates(scores[1:], warper) is not None
    # fewer finite scores than k: -inf ties at the k-th place, the full path too (it keeps the finite ones)
    assert top_k_candidates(torch.tensor([[0.0, -float("inf"), -float("inf")]]), warper) is None


def first_tokens(model, ids, n, seed, **kw):
    torch.manual_seed(seed)
    decoder = Decoder()
    out = model.generate(input_ids=ids.expand(n, -1), attention_mask=torch.ones_like(ids).expand(n, -1),
                         custom_generate=decoder, pad_token_id=0, **kw)
    assert decoder.batches == 1 and decoder.prompts_prefilled == 1 and decoder.batches_transformers == 0
    return out[:, ids.shape[1]:]


def warped(model, ids, **kw) -> torch.Tensor:
    """The reference: the softmax of the scores transformers' own generate samples from (output_scores)."""
    out = model.generate(input_ids=ids, do_sample=True, max_new_tokens=1, output_scores=True,
                         return_dict_in_generate=True, pad_token_id=0, **kw)
    return out.scores[0].softmax(-1)[0]


@pytest.mark.parametrize("warp", [{"top_k": 50, "temperature": 1.0}, {"top_k": 0, "top_p": 0.8, "temperature": 0.7},
                                  {"top_k": 400}])
def test_each_step_samples_the_warped_softmax(tiny_llama, warp):
    """20,000 rows of one prompt: the first token's frequencies against the warped softmax; then the second
    token of the rows whose first token was the most frequent one, against the warped softmax after it."""
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    tok = AutoTokenizer.from_pretrained(tiny_llama)
    ids = tok(["You are a stupid idiot and"], return_tensors="pt").input_ids
    new = first_tokens(model, ids, 20_000, 5, do_sample=True, max_new_tokens=2, **warp)
    assert_frequencies_match(new[:, 0], warped(model, ids, **warp))
    top = new[:, 0].mode().values
    second = new[new[:, 0] == top, 1]
    assert len(second) > 300
    assert_frequencies_match(second, warped(model, torch.cat([ids, top.view(1, 1)], 1), **warp))


def test_sampling_is_reproducible_under_a_seed_and_rows_are_independent(tiny_llama):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    ids = AutoTokenizer.from_pretrained(tiny_llama)(["Thank you"], return_tensors="pt").input_ids
    runs = [first_tokens(model, ids, 16, seed, do_sample=True, max_new_tokens=6) for seed in (1, 1, 2)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])
    assert len({tuple(r) for r in runs[0].tolist()}) > 1


def test_at_ties_in_every_step_the_loop_samples_what_top_k_keeps(tiny_llama):
    """Logits in equal pairs (lm_head rows 2m and 2m+1 made equal): at an odd k the k-th value always ties
    the (k+1)-th, top-k keeps k+1 entries, and the loop takes the full-vocabulary path every step."""
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    with torch.no_grad():
        weight = model.lm_head.weight
        weight[1::2] = weight[0::2]
    ids = AutoTokenizer.from_pretrained(tiny_llama)(["You are a stupid idiot and"], return_tensors="pt").input_ids
    reference = warped(model, ids, top_k=3)
    assert int((reference > 0).sum()) == 4
    with torch.no_grad():
        assert top_k_candidates(model(input_ids=ids).logits[:, -1], TopKLogitsWarper(3)) is None
    new = first_tokens(model, ids, 20_000, 9, do_sample=True, max_new_tokens=1, top_k=3)
    assert_frequencies_match(new[:, 0], reference)
