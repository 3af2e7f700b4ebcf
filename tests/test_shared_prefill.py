"""Shared-prefill generation against the plain path: the same tokens and the same per-step sampling
distribution from `generate`, and through aura-hf's generate_until the same strings as lm-eval's HFLM."""

import pytest
import torch
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
from transformers import AutoModelForCausalLM, AutoTokenizer

from aura_eval.core.config import InterventionConfig
from aura_eval.core.intervention import Intervention, model_fingerprint
from aura_eval.core.modules import output_width, resolve_modules
from aura_eval.harness import sampling
from aura_eval.harness.model import AuraLM
from aura_eval.harness.sampling import SharedPrefill, repeated_rows

# prompts of different lengths (left padding differs per row), repeated, interleaved with a single one
PROMPTS = ["You are a stupid idiot and"] * 3 + ["The weather was pleasant and the people"] * 4 + ["Thank you"] + ["You are a stupid idiot and"] * 2


def test_repeated_rows_groups_identical_prompts_only():
    ids = torch.tensor([[0, 1, 2], [0, 1, 2], [3, 1, 2], [0, 1, 2]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 1, 1], [0, 1, 1]])  # same tokens, other mask: another prompt
    firsts, which = repeated_rows(ids, mask)
    assert firsts == [0, 2, 3] and which.tolist() == [0, 0, 1, 2]
    assert repeated_rows(ids[:1], mask[:1]) is None and repeated_rows(ids[2:], mask[2:]) is None


@pytest.mark.parametrize("sampling", [{"do_sample": False}, {"do_sample": True, "temperature": 0.9, "top_k": 50},
                                      {"do_sample": True, "temperature": 1.0, "top_p": 0.9}])
def test_shared_prefill_generate_equals_plain_generate(tiny_model_dir, sampling):
    """Same seed, same tokens; and the processed logits every row samples from at every step agree, so the
    sampling distribution is the plain one."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir, padding_side="left")
    tok.pad_token = tok.eos_token
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    kw = dict(input_ids=enc.input_ids, attention_mask=enc.attention_mask, max_length=enc.input_ids.shape[1] + 10,
              pad_token_id=tok.eos_token_id, output_scores=True, return_dict_in_generate=True, **sampling)
    torch.manual_seed(3)
    plain = model.generate(**kw)
    shared = SharedPrefill()
    torch.manual_seed(3)
    out = shared.generate(model, model.generate, **kw)
    assert shared.batches_shared == 1 and shared.prompts_prefilled == 3 and shared.rows == len(PROMPTS)
    assert torch.equal(out.sequences, plain.sequences)
    assert len(out.scores) == len(plain.scores)
    for a, b in zip(out.scores, plain.scores):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def random_state(model_dir, path):
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    modules = resolve_modules(model)
    g = torch.Generator().manual_seed(0)
    auroc = {n: torch.rand(output_width(m), generator=g, dtype=torch.float64) for n, m in modules.items()}
    iv = Intervention.from_auroc(auroc, InterventionConfig("aura"), meta={"fingerprint": model_fingerprint(model, list(modules)),
                                                                           "model_name": model_dir.name})
    return iv.save(path)


def requests(gen_kwargs, repeats=5):
    docs = ["You are a stupid idiot and", "The weather was pleasant and the people", "Thank you so much for"]
    return [Instance("generate_until", {}, (d, dict(gen_kwargs)), idx=i) for d in docs for i in range(repeats)]


GREEDY = {"until": ["\n\n", "moron"], "do_sample": False, "max_gen_toks": 8}
SAMPLED = {"until": [], "do_sample": True, "temperature": 1.0, "top_p": 1.0, "max_gen_toks": 8}


@pytest.fixture(scope="module")
def state(tiny_llama, tmp_path_factory):
    return random_state(tiny_llama, tmp_path_factory.mktemp("state") / "s.safetensors")


def lm(cls, model_dir, **kw):
    return cls(pretrained=str(model_dir), device="cpu", batch_size=8, **kw)


def test_greedy_generate_until_equals_plain_hflm(tiny_llama):
    plain = lm(HFLM, tiny_llama).generate_until(requests(GREEDY))
    aura = lm(AuraLM, tiny_llama, intervention="none")
    assert aura.generate_until(requests(GREEDY)) == plain
    assert aura.get_model_info()["aura"]["generation"]["batches_shared"] > 0


@pytest.mark.parametrize("fold", [True, False])
def test_greedy_with_an_intervention_equals_the_plain_path(tiny_llama, state, fold):
    shared = lm(AuraLM, tiny_llama, intervention=str(state), fold=fold)
    plain = lm(AuraLM, tiny_llama, intervention=str(state), fold=fold, shared_prefill=False)
    assert shared.get_model_info()["aura"]["applied"] == ("folded in memory" if fold else "hooks")
    out = shared.generate_until(requests(GREEDY))
    assert out == plain.generate_until(requests(GREEDY))
    assert out != lm(AuraLM, tiny_llama, intervention="none").generate_until(requests(GREEDY)), "the intervention acts"


def test_sampling_is_reproducible_under_a_seed(tiny_llama, state):
    model = lm(AuraLM, tiny_llama, intervention=str(state))
    runs = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        runs.append(model.generate_until(requests(SAMPLED)))
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert len(set(runs[0][:5])) > 1, "the repeats of one prompt are independent samples"
    assert model.get_model_info()["aura"]["generation"]["batches_shared"] > 0


def test_beam_search_takes_the_plain_path(tiny_llama):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    tok = AutoTokenizer.from_pretrained(tiny_llama, padding_side="left")
    tok.pad_token = tok.eos_token
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    kw = dict(input_ids=enc.input_ids, attention_mask=enc.attention_mask, max_new_tokens=4, num_beams=2,
              do_sample=False, pad_token_id=tok.eos_token_id)
    shared = SharedPrefill()
    assert torch.equal(shared.generate(model, model.generate, **kw), model.generate(**kw))
    assert shared.batches_plain == 1 and shared.batches_shared == 0


def test_aura_hf_records_its_sampler_and_torch_draws_equal_hflm_under_a_seed(tiny_llama):
    torch.manual_seed(7)
    plain = lm(HFLM, tiny_llama).generate_until(requests(SAMPLED))
    slow = lm(AuraLM, tiny_llama, intervention="none", fast_sampling=False)
    torch.manual_seed(7)
    assert slow.generate_until(requests(SAMPLED)) == plain, "shared prefill keeps torch's random stream"
    assert slow.get_model_info()["aura"]["generation"]["sampler"] == "torch.multinomial"
    fast = lm(AuraLM, tiny_llama, intervention="none")
    torch.manual_seed(7)
    out = fast.generate_until(requests(SAMPLED))
    assert fast.get_model_info()["aura"]["generation"]["sampler"] == "inverse-cdf"
    assert out != plain, "another random stream: the inverse-CDF draw was the one used"
    assert torch.multinomial is sampling._torch_multinomial, "torch's own multinomial is back after generation"
